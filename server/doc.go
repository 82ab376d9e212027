// Package server answers DNS over UDP and TCP. Queries for names in the
// registry are answered from the published snapshot, copying records that
// were packed at sync time behind the client's own question; every other
// name goes to the Forwarder, or is refused when there is none.
package server

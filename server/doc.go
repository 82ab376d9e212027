// Package server answers DNS over UDP and TCP. Queries for names in the
// registry are answered from the published snapshot, copying records that
// were packed at sync time behind the client's own question; every other
// name goes to the Forwarder (server/forward), or is refused when there is
// none. Every reply is told to an Observer (the ops package's metrics and
// query log); the answer path takes no lock and allocates nothing.
package server

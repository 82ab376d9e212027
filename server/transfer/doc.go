// Package transfer makes swarmdns the primary of its zone for secondary
// DNS servers: it keeps the transferred zones of each published snapshot
// (the default view) with their serials and differences, and serves AXFR
// (RFC 5936), IXFR (RFC 1995), NOTIFY (RFC 1996) and TSIG (RFC 8945).
package transfer

// Package ops is swarmdns's operations side, beside the DNS server: it
// observes the server (Metrics and QueryLog, both server.Observers of
// every reply) and the registry (a registry.Observer on the Store), and
// serves HTTP: Prometheus metrics, health and readiness, and a read-only
// API over the published snapshot and what a query would get. Nothing in
// it is on the answer path except Observe, which does not allocate.
package ops

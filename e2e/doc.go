// Package e2e holds the end-to-end suite that drives the real swarmdns
// binary against a real Docker Swarm and compares it with Docker's embedded
// DNS (127.0.0.11). Its tests build only with -tags e2e; run them with
// `make e2e`, which brings the Swarm up first (scripts/swarm-up.sh).
package e2e

// Package multinode drives a real Docker Swarm of several nodes on one
// machine (scripts/multinode-up.sh: one network namespace, one mount
// namespace and one dockerd per node, managers and workers, plus a separate
// one-node Swarm) for the end-to-end tests that need more than one node. It
// addresses each node's engine through its socket, runs commands in a node's
// or a container's network namespace, queries Docker's embedded DNS inside
// containers with the real dig, and makes faults: a dockerd killed with
// SIGKILL, a node's link cut. Everything but this comment builds only with
// -tags multinode; `make e2e-multinode` brings the nodes up and runs the
// tests. See README.md.
package multinode

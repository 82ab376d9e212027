// Package swarm is the registry source that reads a Docker Swarm manager
// through the Engine API, read-only. Source.Run reads the whole cluster
// (services, tasks, networks, nodes, the local engine's containers) at
// start; then on each engine event only what it names (a service and its
// tasks, a node and its tasks, the networks), on Source.Reread the
// services named (a service so named is read again every 100 ms for a
// while as it converges: hold.go), and the whole cluster again at an
// adaptive reconciliation interval. It hands registry.Data to a registry.Sink only
// when it changed, always what a full read would give. It also applies at
// once what the local engine says of its own task containers (started,
// died) before the manager does. A failed read is reported and retried
// with backoff, and the last good data keeps serving; the source says its
// data goes stale. It probes the other nodes' gossip port and does not
// answer the tasks of a node that answered before and no longer does,
// ahead of the manager's Down (liveness.go). It is the only package that
// talks to Docker.
package swarm

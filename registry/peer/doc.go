// Package peer lets a swarmdns on a worker follow a swarmdns on a manager.
// A manager instance runs a Server that observes its Store and streams
// what it publishes; a Follower is the worker's registry.Source: it
// receives the whole registry once, then each change, resumes after a
// reconnect, moves to another manager when its manager goes away, and
// delivers complete Data (the manager's cluster data with this node's ID
// and containers) so that every name behaves as on a manager. Only nodes
// of the same Swarm take part (package swarmpki). README.md describes the
// protocol.
package peer

// Package registry holds what swarmdns knows about the cluster: the data a
// Source reads (Swarm, a YAML file), and the immutable Snapshot built from
// it at sync time and published with an atomic swap. A Snapshot answers
// "which records does this name have, for a client on these networks" with
// records already packed in wire format; queries only read it.
package registry

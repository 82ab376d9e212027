// Package registry is what swarmdns knows about the cluster, between the
// sources that read it and the server that answers from it.
//
// The model (model.go) is Data: services, tasks, networks, nodes and local
// containers, complete at one moment. A Source (registry/swarm,
// registry/file, each in its own package with its own I/O libraries)
// hands Data to a Sink and reports every sync, good or failed, through
// it. The Store is that Sink: it builds an immutable Snapshot of each Data
// (Build: every name, its views per network and its record sets, packed
// in wire format, with a compiled scheduler each) and publishes it with an
// atomic swap. A change of a few services is built alone, as an overlay
// over the last full build, and answers as a full build of the same Data
// would. Queries read the published Snapshot with one atomic load
// and never wait for a build; a failed sync leaves it serving. Observers
// added with Store.Observe hear every publish and every sync.
//
// README.md in this folder walks through one build and one lookup and
// keeps the glossary of the build's words.
package registry

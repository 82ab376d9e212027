package registry

import (
	"context"
	"time"
)

// A Source fills the registry. Run reports to sink until ctx is done:
// first Describe, then complete Data through Update each time the backend
// changes, and every sync's outcome through Synced or Failed. A Source that
// fails to read its backend reports Failed, retries and keeps quiet
// otherwise: it never delivers partial or empty Data because of an error,
// so the last good snapshot keeps serving. Run returns only when ctx is
// done or on an error it cannot recover from (a missing permission, a
// misconfiguration).
type Source interface {
	Run(ctx context.Context, sink Sink) error
}

// A Sink takes everything a Source reports. *Store implements it.
type Sink interface {
	// Describe says what the source is and whether its data can go
	// stale. A source calls it before its first Update, and again when
	// what it describes changes (a follower that switched managers).
	Describe(SourceInfo)
	// Update delivers complete data: the sink builds and publishes it.
	Update(*Data)
	// Synced reports a sync that brought the data up to date with the
	// backend in took (a read of the whole backend, or of what changed
	// for a source that is told of changes), whether or not it found
	// anything new: a quiet cluster is current, not stale.
	Synced(took time.Duration)
	// Failed reports a sync that could not read the backend. What was
	// published keeps serving.
	Failed(err error)
}

// SourceInfo describes a Source to readiness, metrics and the operations
// API.
type SourceInfo struct {
	// Kind names the source: "swarm", "file", "follower".
	Kind string
	// Origin is what it reads: the registry file's path, the engine's
	// address, the manager instance a follower follows.
	Origin string
	// Stales is true when the data goes stale without successful syncs
	// (a Swarm manager, a followed peer); a watched file never does.
	Stales bool
	// Checked is true when the source refuses Data that CheckData finds
	// a problem in (a registry file), so the Store need not check again.
	Checked bool
}

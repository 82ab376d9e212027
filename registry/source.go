package registry

import "context"

// A Source fills the registry. Run delivers complete Data to update each
// time the cluster changes, until ctx is done. A Source that fails to read
// its backend logs, retries and keeps quiet: it never delivers partial or
// empty Data because of an error, so the last good snapshot keeps serving.
// Run returns only when ctx is done or on an error it cannot recover from
// (a missing permission, a misconfiguration).
type Source interface {
	Run(ctx context.Context, update func(*Data)) error
}

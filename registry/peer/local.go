package peer

import (
	"context"

	"github.com/swarmdns/swarmdns/registry"
)

// LocalState is what only the follower's own node knows: its Swarm node
// ID (so --prefer-local orders its tasks first) and its local containers
// (so a container's own networks decide its view).
type LocalState struct {
	NodeID     string
	Containers []registry.Container
	// Listed is true when Containers come from a listing of the engine;
	// false while only the node ID is known. Containers new in a listing
	// after a listing started (reread.go).
	Listed bool
}

// Local tells a follower its LocalState. The follower's Data is the
// manager's cluster data with this node's ID and containers.
type Local interface {
	// Watch calls update with the current state, then again each time it
	// changes, until ctx is done; update does not block. Watch returns
	// when ctx is done, or early on an error it cannot recover from
	// (the follower then keeps the last state it was given).
	Watch(ctx context.Context, update func(LocalState)) error
}

// StaticLocal is a Local that never changes.
type StaticLocal LocalState

// Watch implements Local.
func (s StaticLocal) Watch(ctx context.Context, update func(LocalState)) error {
	update(LocalState(s))
	<-ctx.Done()
	return nil
}

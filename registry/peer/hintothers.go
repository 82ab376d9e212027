package peer

import (
	"context"
	"sync"

	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
)

// Every manager instance reads the Swarm itself, and the manager tells
// none of them when a task on a worker dies or starts: a follower's Reread
// goes on its stream to the instance it follows and, by the Hint call, to
// every other one it knows (FollowerConfig.Managers), so that each reads
// the service at once. Hints to the others are best effort: one that
// cannot be sent within the dial timeout is dropped (the instance's own
// reads catch up), and hints that come faster than they are sent are
// dropped beyond a small queue.

// otherHintsQueue bounds the hints queued for the other instances, and
// for each of them.
const otherHintsQueue = 64

// hintOthers hands each Reread queued on f.others to a sender per manager
// instance but the one followed, until ctx is done: an instance that does
// not answer delays no other.
func (f *Follower) hintOthers(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	senders := map[string]chan *peerpb.Reread{}
	for {
		var m *peerpb.Reread
		select {
		case <-ctx.Done():
			return
		case m = <-f.others:
		}
		followed := f.followed()
		for _, addr := range f.cfg.Managers {
			if addr == followed {
				continue
			}
			q := senders[addr]
			if q == nil {
				q = make(chan *peerpb.Reread, otherHintsQueue)
				senders[addr] = q
				wg.Go(func() { f.sendHints(ctx, addr, q) })
			}
			select {
			case q <- m:
			default:
				f.log.WithField("manager", addr).Debug("re-read hint dropped: too many queued")
			}
		}
	}
}

// sendHints sends the hints of q to the manager instance at addr, each
// within the dial timeout, on a connection made at the first and kept,
// until ctx is done.
func (f *Follower) sendHints(ctx context.Context, addr string, q <-chan *peerpb.Reread) {
	conn, err := f.dial(addr)
	if err != nil {
		f.log.WithField("manager", addr).WithError(err).Warn("re-read hints to this manager instance not sent")
		return
	}
	defer conn.Close()
	client := peerpb.NewRegistryClient(conn)
	for {
		var m *peerpb.Reread
		select {
		case <-ctx.Done():
			return
		case m = <-q:
		}
		cctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
		_, err := client.Hint(cctx, m)
		cancel()
		if err != nil && ctx.Err() == nil {
			f.log.WithField("manager", addr).WithError(err).Debug("re-read hint not sent")
		}
	}
}

// followed is the address of the manager instance followed now; "" while
// none is.
func (f *Follower) followed() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.st.Connected {
		return ""
	}
	return f.st.Manager
}

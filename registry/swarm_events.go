package registry

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// watchEvents sends a kick for each engine event that may change names. The
// Engine API has no task events: service, node and network events come from
// the manager, container events from the local engine (task containers
// starting, dying, turning healthy). It reconnects with backoff until ctx is
// done; the poll covers whatever is missed meanwhile.
func (s *SwarmSource) watchEvents(ctx context.Context, kicks chan<- struct{}) {
	opts := events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ServiceEventType)),
		filters.Arg("type", string(events.NodeEventType)),
		filters.Arg("type", string(events.NetworkEventType)),
		filters.Arg("type", string(events.ContainerEventType)),
	)}
	failures := 0
	for {
		connected := time.Now()
		msgs, errs := s.eventsCli.Events(ctx, opts)
		err := forwardEvents(ctx, msgs, errs, kicks, &s.died)
		if ctx.Err() != nil {
			return
		}
		s.log.WithError(err).Debug("event stream ended")
		if time.Since(connected) > retryMax {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff(failures)):
		}
		failures++
	}
}

// forwardEvents turns relevant messages into kicks until the stream ends,
// and notes which containers died. kicks holds one pending kick; more would
// only repeat it.
func forwardEvents(ctx context.Context, msgs <-chan events.Message, errs <-chan error, kicks chan<- struct{}, died *diedContainers) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case m := <-msgs:
			if m.Type == events.ContainerEventType {
				if !containerChange(m.Action) {
					continue
				}
				died.note(m.Action, m.Actor.ID, time.Now())
			}
			select {
			case kicks <- struct{}{}:
			default:
			}
		}
	}
}

// containerChange reports whether a container event may change a task's
// names: it started, died or changed health. The others (kill is only a
// signal, exec_*, attach, resize...) would only spend a resync, and one
// spent on "kill" delays the one "die" needs.
func containerChange(a events.Action) bool {
	switch a {
	case events.ActionStart, events.ActionDie, events.ActionDestroy:
		return true
	}
	return strings.HasPrefix(string(a), string(events.ActionHealthStatus))
}

// diedContainerMemory is how long a die event is remembered: by then the
// manager has long marked the container's task failed.
const diedContainerMemory = time.Minute

// diedContainers remembers the containers the local engine reported dead.
// The engine lists a dead container as running until it has torn its
// networks down, half a second or more after the die event; the die event
// is the first word that the task's addresses are gone.
type diedContainers struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

func (d *diedContainers) note(action events.Action, id string, now time.Time) {
	if id == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch action {
	case events.ActionDie:
		if d.ids == nil {
			d.ids = make(map[string]time.Time)
		}
		d.ids[id] = now
	case events.ActionStart, events.ActionDestroy:
		delete(d.ids, id)
	}
}

// set returns the containers that died in the last diedContainerMemory,
// forgetting older ones.
func (d *diedContainers) set(now time.Time) map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out map[string]bool
	for id, at := range d.ids {
		if now.Sub(at) > diedContainerMemory {
			delete(d.ids, id)
			continue
		}
		if out == nil {
			out = make(map[string]bool, len(d.ids))
		}
		out[id] = true
	}
	return out
}

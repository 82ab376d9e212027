package registry

import (
	"context"
	"strings"
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
		err := forwardEvents(ctx, msgs, errs, kicks)
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

// forwardEvents turns relevant messages into kicks until the stream ends.
// kicks holds one pending kick; more would only repeat it.
func forwardEvents(ctx context.Context, msgs <-chan events.Message, errs <-chan error, kicks chan<- struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case m := <-msgs:
			if m.Type == events.ContainerEventType && !containerChange(m.Action) {
				continue
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

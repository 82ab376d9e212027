package swarm

import (
	"context"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// watchEvents sends a kick for each engine event that may change names,
// and a local kick when a container event changed what the local engine
// says about a task (see localTasks). The Engine API has no task events:
// service, node and network events come from the manager, container events
// from the local engine (task containers starting, dying, turning healthy).
// It reconnects with backoff until ctx is done; the poll covers whatever is
// missed meanwhile.
func (s *Source) watchEvents(ctx context.Context, kicks, local chan<- struct{}) {
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
		err := s.forwardEvents(ctx, msgs, errs, kicks, local)
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
// Each channel holds one pending kick; more would only repeat it.
func (s *Source) forwardEvents(ctx context.Context, msgs <-chan events.Message, errs <-chan error, kicks, local chan<- struct{}) error {
	localKick := func() { kick(local) }
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
				if s.containerEvent(ctx, m, localKick) {
					localKick()
				}
			}
			kick(kicks)
		}
	}
}

func kick(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
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

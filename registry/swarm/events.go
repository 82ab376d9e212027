package swarm

import (
	"context"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// watchEvents tells the loop, through s.hints, what each engine event that
// may change names is about, and kicks local when a container event
// changed what the local engine says about a task (see localTasks). The
// Engine API has no task events: service, node and network events come
// from the manager, container events from the local engine (task
// containers starting, dying, turning healthy). It reconnects with backoff
// until ctx is done; events missed meanwhile are what the full read asked
// for at each reconnection catches, and until then the loop keeps its
// reconciliation at the poll interval (s.streamDown).
func (s *Source) watchEvents(ctx context.Context, local chan<- struct{}) {
	opts := events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ServiceEventType)),
		filters.Arg("type", string(events.NodeEventType)),
		filters.Arg("type", string(events.NetworkEventType)),
		filters.Arg("type", string(events.ContainerEventType)),
	)}
	failures := 0
	for first := true; ; first = false {
		connected := time.Now()
		msgs, errs := s.eventsCli.Events(ctx, opts)
		s.streamDown.Store(false)
		if !first {
			s.hints.add(wants{full: true})
		}
		err := s.forwardEvents(ctx, msgs, errs, local)
		if ctx.Err() != nil {
			return
		}
		s.streamDown.Store(true)
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

// forwardEvents hands what each relevant message is about to s.hints until
// the stream ends.
func (s *Source) forwardEvents(ctx context.Context, msgs <-chan events.Message, errs <-chan error, local chan<- struct{}) error {
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
			s.hints.add(eventWants(m))
		}
	}
}

// eventWants is what a read must bring up to date after an event: the
// service, or the node, it names (with its tasks); the networks; for a task
// container, its service; for any container, the local engine's list
// (which every targeted read lists). An event that does not name what it
// is about is read whole.
func eventWants(m events.Message) wants {
	if m.Actor.ID == "" {
		return wants{full: true}
	}
	switch m.Type {
	case events.ServiceEventType:
		return serviceWant(m.Actor.ID)
	case events.NodeEventType:
		return wants{nodes: map[string]bool{m.Actor.ID: true}}
	case events.NetworkEventType:
		if m.Action == events.ActionConnect || m.Action == events.ActionDisconnect {
			return wants{local: true}
		}
		return wants{networks: true}
	case events.ContainerEventType:
		svc, task := m.Actor.Attributes[labelServiceID], m.Actor.Attributes[labelTaskID]
		switch {
		case svc != "":
			return serviceWant(svc)
		case task != "":
			return wants{full: true}
		}
		return wants{local: true}
	}
	return wants{full: true}
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

package swarm

import (
	"time"

	swarmtypes "github.com/docker/docker/api/types/swarm"
)

// Held services. The manager has no task events: a task that dies is
// replaced by one the scheduler places and the agent starts, and nothing
// tells when it runs. So a service that an event or a follower's hint
// named is held for holdFor: until a read finds its tasks changed (for at
// most holdWait: the manager records what the hint is about a little
// after it), and while it converges (tasks on their way to running,
// pending included, or fewer tasks than replicas, as while a restart
// delay or a rolling update has a replacement not yet wanted running), it
// is read again every holdPoll, not doubling, each read costing at most a
// holdCost-th of the time. A read that finds its tasks changed holds it
// holdFor again. Past the hold, the settling schedule
// (loop.settled) takes over, which leaves pending tasks to the events
// that place them. A pending task the scheduler found no node for (its
// status carries the scheduler's error) is not converging: it waits for a
// node or the resources to change, not for time, so a service whose tasks
// cannot be placed is read only until its change is seen, not at the
// hold's pace after each event.
const (
	holdFor  = 30 * time.Second
	holdWait = 2 * time.Second
	holdPoll = followUpFirst
	holdCost = 4
)

// holdState is until when a service is held, and until when it is read
// at the hold's pace whether it converges or not (zero: no longer).
type holdState struct {
	until, wait time.Time
}

// hold holds the services w names for holdFor from now; told (by an
// event or a hint, not a read) also waits holdWait for their change.
func (l *loop) hold(w wants, now time.Time, told bool) {
	if len(w.services) == 0 {
		return
	}
	if l.held == nil {
		l.held = map[string]holdState{}
	}
	for id, h := range l.held {
		if now.After(h.until) {
			delete(l.held, id)
		}
	}
	for id := range w.services {
		h := holdState{until: now.Add(l.src.holdFor)}
		if told {
			h.wait = now.Add(min(holdWait, l.src.holdFor))
		}
		l.held[id] = h
	}
}

// heldEvery is when a held service is read next after a read begun at
// start that took took (changed: it found the tasks changed), and whether
// it is held and converging or waiting for its change.
func (l *loop) heldEvery(id string, e *serviceEntry, start time.Time, took time.Duration, changed bool) (time.Duration, bool) {
	h, ok := l.held[id]
	if !ok || start.After(h.until) {
		delete(l.held, id)
		return 0, false
	}
	waiting := !changed && start.Before(h.wait)
	if !waiting && !h.wait.IsZero() {
		h.wait = time.Time{}
		l.held[id] = h
	}
	if !waiting && !e.converging() {
		return 0, false
	}
	return max(holdPoll, holdCost*took), true
}

// converging reports whether the service has tasks the manager wants
// running that do not run yet, pending ones included unless the scheduler
// found no node for them, or, replicated, fewer tasks wanted running than
// replicas (a replacement held back by a restart delay or an update is
// wanted ready, not running, until it starts).
func (e *serviceEntry) converging() bool {
	for _, t := range e.tasks {
		if t.Status.State != swarmtypes.TaskStateRunning && !unplaceable(t) {
			return true
		}
	}
	if e.service == nil {
		return false
	}
	r := e.service.Spec.Mode.Replicated
	return r != nil && r.Replicas != nil && uint64(len(e.tasks)) < *r.Replicas
}

// unplaceable reports whether the task is pending because the scheduler
// found no node for it ("no suitable node ..." in its status error).
func unplaceable(t swarmtypes.Task) bool {
	return t.Status.State == swarmtypes.TaskStatePending && t.Status.Err != ""
}

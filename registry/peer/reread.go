package peer

import (
	"net/netip"
	"slices"
	"time"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
)

// diedFor is how long a task container's death on this node overrides
// the manager's data, which normally catches up within a second.
const diedFor = 30 * time.Second

// gone returns the services whose running tasks on this node had the
// addresses of a container that old listed and cur no longer does (a task
// container that died or stopped), and those tasks, and notes their
// addresses as died.
// The manager has no task events, so a follower that sees its own engine
// lose one stops answering the task at once, as a manager does for its
// own node, and tells its manager instance which services to read again
// (Reread), which then publishes the change to every node at once instead
// of at its next reconciliation.
func (h *held) gone(old, cur LocalState) (services, tasks []string) {
	return h.goneAt(old, cur, time.Now())
}

func (h *held) goneAt(old, cur LocalState, now time.Time) (services, tasks []string) {
	if len(old.Containers) == 0 || cur.NodeID == "" {
		return nil, nil
	}
	kept := make(map[string]bool, len(cur.Containers))
	for _, c := range cur.Containers {
		kept[c.ID] = true
	}
	var lost map[netip.Addr]bool
	for _, c := range old.Containers {
		if kept[c.ID] {
			continue
		}
		if lost == nil {
			lost = map[netip.Addr]bool{}
		}
		for _, a := range c.Addresses {
			lost[a] = true
		}
	}
	if lost == nil {
		return nil, nil
	}
	for i := range h.cluster.tasks {
		t := &h.cluster.tasks[i]
		if t.NodeID != cur.NodeID || t.State != registry.TaskRunning || !hasAny(t, lost) {
			continue
		}
		if h.died == nil {
			h.died = map[netip.Addr]time.Time{}
		}
		for _, na := range t.Addresses {
			for _, a := range na.Addrs {
				h.died[a] = now
			}
		}
		tasks = append(tasks, t.ID)
		if !slices.Contains(services, t.ServiceID) {
			services = append(services, t.ServiceID)
		}
	}
	return services, tasks
}

func hasAny[V any](t *registry.Task, addrs map[netip.Addr]V) bool {
	for _, na := range t.Addresses {
		for _, a := range na.Addrs {
			if _, ok := addrs[a]; ok {
				return true
			}
		}
	}
	return false
}

// started returns the services of the task containers that cur lists and
// old, a listing too, did not: a task container that started here. The
// manager tells no one when a task it placed starts running, so the
// follower tells its manager instance which services to read again.
func started(old, cur LocalState) []string {
	if !old.Listed || !cur.Listed {
		return nil
	}
	was := make(map[string]bool, len(old.Containers))
	for _, c := range old.Containers {
		was[c.ID] = true
	}
	var services []string
	for _, c := range cur.Containers {
		if c.ServiceID != "" && !was[c.ID] && !slices.Contains(services, c.ServiceID) {
			services = append(services, c.ServiceID)
		}
	}
	return services
}

// data returns the Data to publish: the manager's with this node's local
// state, this node's tasks whose containers died shut down, and those
// whose containers run (and are healthy, or have no healthcheck) running
// before the manager says so, as a manager does for its own node. A died
// address is forgotten once no running task of this node has it any more
// (the manager caught up) or after diedFor.
func (h *held) data(now time.Time) *registry.Data {
	d := h.cluster.data(h.local)
	d = withStarted(d)
	if len(h.died) == 0 {
		return d
	}
	still := make(map[netip.Addr]bool, len(h.died))
	copied := false
	for i := range d.Tasks {
		t := &d.Tasks[i]
		if t.NodeID != h.local.NodeID || t.State != registry.TaskRunning || !hasAny(t, h.died) {
			continue
		}
		for _, na := range t.Addresses {
			for _, a := range na.Addrs {
				still[a] = true
			}
		}
		if !copied {
			d.Tasks, copied = slices.Clone(d.Tasks), true // the cluster's arrays may be shared
			t = &d.Tasks[i]
		}
		t.State = taskDied
	}
	for a, at := range h.died {
		if !still[a] || now.Sub(at) > diedFor {
			delete(h.died, a)
		}
	}
	return d
}

// withStarted returns d with this node's tasks on their way to running
// whose containers the local listing has, healthy, running. d is not
// modified; unchanged, it is returned as is.
func withStarted(d *registry.Data) *registry.Data {
	var ready map[string]bool // task ID →
	for _, c := range d.Containers {
		if c.TaskID != "" && !c.Unhealthy {
			if ready == nil {
				ready = make(map[string]bool, len(d.Containers))
			}
			ready[c.TaskID] = true
		}
	}
	if ready == nil {
		return d
	}
	var tasks []registry.Task // copied on the first change: the cluster's arrays are shared
	for i := range d.Tasks {
		t := &d.Tasks[i]
		if t.NodeID != d.LocalNode || !ready[t.ID] || !beforeRunning(t.State) {
			continue
		}
		if tasks == nil {
			tasks = slices.Clone(d.Tasks)
		}
		tasks[i].State = registry.TaskRunning
	}
	if tasks == nil {
		return d
	}
	out := *d
	out.Tasks = tasks
	return &out
}

// beforeRunning reports whether a task in state s is on its way to running.
func beforeRunning(s string) bool {
	switch s {
	case "new", "pending", "assigned", "accepted", "preparing", "ready", "starting":
		return true
	}
	return false
}

// taskDied is the state a task whose container died on this node is
// published in until the manager says what became of it: never answered.
const taskDied = "shutdown"

// localChanged takes the local node's new state: the services of task
// containers gone or started are sent to the managers to re-read, with
// the tasks whose containers are gone, and the data is
// published again once the follower holds the manager's.
func (f *Follower) localChanged(h *held, ls LocalState, sink registry.Sink) {
	services, died := h.gone(h.local, ls)
	for _, s := range started(h.local, ls) {
		if !slices.Contains(services, s) {
			services = append(services, s)
		}
	}
	if len(services) > 0 && !f.reread(&peerpb.Reread{ServiceIds: services, DiedTaskIds: died}) {
		f.log.WithField("services", len(services)).Debug("re-read hint dropped: too many queued")
	}
	h.local = ls
	if h.have {
		h.publish(sink)
	}
}

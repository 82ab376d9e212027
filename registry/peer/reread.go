package peer

import (
	"net/netip"
	"slices"

	"github.com/swarmdns/swarmdns/registry"
)

// gone returns the services whose running tasks on this node had the
// addresses of a container that old listed and cur no longer does: a task
// container that died or stopped. The manager has no task events, so a
// follower that sees its own engine lose one tells its manager instance
// which services to read again (Reread), which then publishes the change
// to every node at once instead of at its next reconciliation.
func (h *held) gone(old, cur LocalState) []string {
	if len(old.Containers) == 0 || cur.NodeID == "" {
		return nil
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
		return nil
	}
	var services []string
	for i := range h.cluster.tasks {
		t := &h.cluster.tasks[i]
		if t.NodeID != cur.NodeID || t.State != registry.TaskRunning || slices.Contains(services, t.ServiceID) {
			continue
		}
		if hasAny(t, lost) {
			services = append(services, t.ServiceID)
		}
	}
	return services
}

func hasAny(t *registry.Task, addrs map[netip.Addr]bool) bool {
	for _, na := range t.Addresses {
		for _, a := range na.Addrs {
			if addrs[a] {
				return true
			}
		}
	}
	return false
}

// localChanged takes the local node's new state: the services of task
// containers gone are sent to the manager to re-read, and the data is
// published again once the follower holds the manager's.
func (f *Follower) localChanged(h *held, ls LocalState, sink registry.Sink) {
	if services := h.gone(h.local, ls); len(services) > 0 && !f.Reread(services, nil) {
		f.log.WithField("services", len(services)).Debug("re-read hint dropped: too many queued")
	}
	h.local = ls
	if h.have {
		h.publish(sink)
	}
}

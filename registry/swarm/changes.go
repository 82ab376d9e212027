package swarm

import (
	"net/netip"
	"reflect"
	"slices"
	"sort"

	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
)

// sortSwarmData puts Data in canonical order so that two syncs of the same
// cluster compare equal. Orders that carry meaning (aliases, a container's
// networks, subnets, ports) are left as the engine gave them.
func sortSwarmData(d *registry.Data) {
	sort.Slice(d.Services, func(i, j int) bool { return d.Services[i].ID < d.Services[j].ID })
	sort.Slice(d.Tasks, func(i, j int) bool { return d.Tasks[i].ID < d.Tasks[j].ID })
	for _, t := range d.Tasks {
		for _, na := range t.Addresses {
			slices.SortFunc(na.Addrs, netip.Addr.Compare)
		}
	}
	sort.Slice(d.Networks, func(i, j int) bool { return d.Networks[i].ID < d.Networks[j].ID })
	sort.Slice(d.Nodes, func(i, j int) bool { return d.Nodes[i].ID < d.Nodes[j].ID })
	sort.Slice(d.Containers, func(i, j int) bool { return d.Containers[i].ID < d.Containers[j].ID })
}

// sameSwarmData tells whether two canonical Data are equal; nil equals nothing.
func sameSwarmData(a, b *registry.Data) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(a, b)
}

// logSwarmChanges logs, once each, what changed between two syncs.
func logSwarmChanges(log *logrus.Entry, old, cur *registry.Data) {
	if old == nil {
		log.WithFields(logrus.Fields{
			"services": len(cur.Services),
			"tasks":    cur.RunningTasks(),
			"networks": len(cur.Networks),
			"nodes":    len(cur.Nodes),
		}).Info("first sync")
		return
	}
	names := make(map[string]string, len(cur.Services))
	for _, ss := range [][]registry.Service{old.Services, cur.Services} {
		for _, s := range ss {
			names[s.ID] = s.Name
		}
	}

	diffByID(old.Services, cur.Services, func(s registry.Service) string { return s.ID },
		func(s registry.Service) {
			log.WithFields(logrus.Fields{"service": s.Name, "id": s.ID}).Info("service created")
		},
		func(s registry.Service) {
			log.WithFields(logrus.Fields{"service": s.Name, "id": s.ID}).Info("service removed")
		},
		func(_, s registry.Service) {
			log.WithFields(logrus.Fields{"service": s.Name, "id": s.ID}).Info("service updated")
		})

	taskFields := func(t registry.Task) logrus.Fields {
		return logrus.Fields{"service": names[t.ServiceID], "task": t.ID, "slot": t.Slot, "node": t.NodeID, "state": t.State}
	}
	diffByID(old.Tasks, cur.Tasks, func(t registry.Task) string { return t.ID },
		func(t registry.Task) { log.WithFields(taskFields(t)).Info("task added") },
		func(t registry.Task) { log.WithFields(taskFields(t)).Info("task removed") },
		func(o, t registry.Task) {
			log.WithFields(taskFields(t)).WithField("previous", o.State).Info("task changed")
		})

	diffByID(old.Networks, cur.Networks, func(n registry.Network) string { return n.ID },
		func(n registry.Network) {
			log.WithFields(logrus.Fields{"network": n.Name, "id": n.ID}).Info("network created")
		},
		func(n registry.Network) {
			log.WithFields(logrus.Fields{"network": n.Name, "id": n.ID}).Info("network removed")
		},
		func(_, n registry.Network) {
			log.WithFields(logrus.Fields{"network": n.Name, "id": n.ID}).Info("network updated")
		})

	diffByID(old.Nodes, cur.Nodes, func(n registry.Node) string { return n.ID },
		func(n registry.Node) {
			log.WithFields(logrus.Fields{"node": n.Hostname, "id": n.ID}).Info("node added")
		},
		func(n registry.Node) {
			log.WithFields(logrus.Fields{"node": n.Hostname, "id": n.ID}).Info("node removed")
		},
		func(_, n registry.Node) {
			log.WithFields(logrus.Fields{"node": n.Hostname, "id": n.ID}).Info("node updated")
		})

	// Local containers come and go with tasks, which are logged already.
	diffByID(old.Containers, cur.Containers, func(c registry.Container) string { return c.ID },
		func(c registry.Container) { log.WithField("container", c.ID).Debug("container added") },
		func(c registry.Container) { log.WithField("container", c.ID).Debug("container removed") },
		func(_, c registry.Container) { log.WithField("container", c.ID).Debug("container changed") })

	if old.LocalNode != cur.LocalNode {
		log.WithField("node", cur.LocalNode).Info("local node changed")
	}
}

// diffByID calls added, removed and changed for the items of two lists
// sorted by id.
func diffByID[T any](old, cur []T, id func(T) string, added, removed func(T), changed func(old, cur T)) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(old) && id(old[i]) < id(cur[j])):
			removed(old[i])
			i++
		case i == len(old) || id(cur[j]) < id(old[i]):
			added(cur[j])
			j++
		default:
			if !reflect.DeepEqual(old[i], cur[j]) {
				changed(old[i], cur[j])
			}
			i++
			j++
		}
	}
}

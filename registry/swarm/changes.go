package swarm

import (
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

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

// maxChangeLines bounds what one publish logs of each kind of object:
// this many changes get a line each; beyond it, tasks are counted by
// service (as many service lines, then one line for the rest) and other
// objects in one line. A service of 10,000 tasks that cannot be placed is
// a few lines, not one per task.
const maxChangeLines = 10

// logSwarmChanges logs what changed between two syncs, bounded by
// maxChangeLines.
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

	svcs := newChangeLog(log, "services")
	diffByID(old.Services, cur.Services, func(s registry.Service) string { return s.ID },
		func(s registry.Service) { svcs.line("service created", logrus.Fields{"service": s.Name, "id": s.ID}) },
		func(s registry.Service) { svcs.line("service removed", logrus.Fields{"service": s.Name, "id": s.ID}) },
		func(_, s registry.Service) {
			svcs.line("service updated", logrus.Fields{"service": s.Name, "id": s.ID})
		})
	svcs.flush()

	logTaskChanges(log, old.Tasks, cur.Tasks, names)

	nets := newChangeLog(log, "networks")
	diffByID(old.Networks, cur.Networks, func(n registry.Network) string { return n.ID },
		func(n registry.Network) { nets.line("network created", logrus.Fields{"network": n.Name, "id": n.ID}) },
		func(n registry.Network) { nets.line("network removed", logrus.Fields{"network": n.Name, "id": n.ID}) },
		func(_, n registry.Network) {
			nets.line("network updated", logrus.Fields{"network": n.Name, "id": n.ID})
		})
	nets.flush()

	nodes := newChangeLog(log, "nodes")
	diffByID(old.Nodes, cur.Nodes, func(n registry.Node) string { return n.ID },
		func(n registry.Node) { nodes.line("node added", logrus.Fields{"node": n.Hostname, "id": n.ID}) },
		func(n registry.Node) { nodes.line("node removed", logrus.Fields{"node": n.Hostname, "id": n.ID}) },
		func(_, n registry.Node) { nodes.line("node updated", logrus.Fields{"node": n.Hostname, "id": n.ID}) })
	nodes.flush()

	// Local containers come and go with tasks, which are logged already.
	if log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		ctrs := newChangeLog(log, "containers")
		ctrs.level = logrus.DebugLevel
		diffByID(old.Containers, cur.Containers, func(c registry.Container) string { return c.ID },
			func(c registry.Container) { ctrs.line("container added", logrus.Fields{"container": c.ID}) },
			func(c registry.Container) { ctrs.line("container removed", logrus.Fields{"container": c.ID}) },
			func(_, c registry.Container) { ctrs.line("container changed", logrus.Fields{"container": c.ID}) })
		ctrs.flush()
	}

	if old.LocalNode != cur.LocalNode {
		log.WithField("node", cur.LocalNode).Info("local node changed")
	}
}

// changeLog logs the first maxChangeLines changes it is given one line
// each, and counts the rest by message for one line at flush.
type changeLog struct {
	log   *logrus.Entry
	kind  string
	level logrus.Level
	lines int
	more  map[string]int // message → changes not logged
}

func newChangeLog(log *logrus.Entry, kind string) *changeLog {
	return &changeLog{log: log, kind: kind, level: logrus.InfoLevel}
}

func (c *changeLog) line(msg string, f logrus.Fields) {
	if c.lines < maxChangeLines {
		c.lines++
		c.log.WithFields(f).Log(c.level, msg)
		return
	}
	if c.more == nil {
		c.more = map[string]int{}
	}
	c.more[msg]++
}

func (c *changeLog) flush() {
	if len(c.more) == 0 {
		return
	}
	f := logrus.Fields{}
	for msg, n := range c.more {
		f[strings.ReplaceAll(msg, " ", "_")] = n
	}
	c.log.WithFields(f).Log(c.level, "more "+c.kind+" changed")
}

// taskCounts is what changed of one service's tasks.
type taskCounts struct {
	service                 string
	added, removed, changed int
	states                  map[string]int // state of the added and changed →
}

func (t taskCounts) total() int { return t.added + t.removed + t.changed }

// logTaskChanges logs each task that changed when they are few, else one
// line per service for the services with the most changes and one line
// for the rest.
func logTaskChanges(log *logrus.Entry, old, cur []registry.Task, names map[string]string) {
	type change struct {
		msg      string
		old, cur registry.Task
	}
	var changes []change
	bySvc := map[string]*taskCounts{}
	count := func(t registry.Task) *taskCounts {
		c := bySvc[t.ServiceID]
		if c == nil {
			c = &taskCounts{service: t.ServiceID, states: map[string]int{}}
			bySvc[t.ServiceID] = c
		}
		return c
	}
	diffByID(old, cur, func(t registry.Task) string { return t.ID },
		func(t registry.Task) {
			c := count(t)
			c.added++
			c.states[t.State]++
			changes = append(changes, change{msg: "task added", cur: t})
		},
		func(t registry.Task) {
			count(t).removed++
			changes = append(changes, change{msg: "task removed", cur: t})
		},
		func(o, t registry.Task) {
			c := count(t)
			c.changed++
			c.states[t.State]++
			changes = append(changes, change{msg: "task changed", old: o, cur: t})
		})
	if len(changes) <= maxChangeLines {
		for _, ch := range changes {
			t := ch.cur
			e := log.WithFields(logrus.Fields{"service": names[t.ServiceID], "task": t.ID, "slot": t.Slot, "node": t.NodeID, "state": t.State})
			if ch.msg == "task changed" {
				e = e.WithField("previous", ch.old.State)
			}
			e.Info(ch.msg)
		}
		return
	}
	counts := make([]*taskCounts, 0, len(bySvc))
	for _, c := range bySvc {
		counts = append(counts, c)
	}
	sort.Slice(counts, func(i, j int) bool {
		if counts[i].total() != counts[j].total() {
			return counts[i].total() > counts[j].total()
		}
		return counts[i].service < counts[j].service
	})
	for i, c := range counts {
		if i == maxChangeLines {
			rest := taskCounts{}
			for _, c := range counts[i:] {
				rest.added, rest.removed, rest.changed = rest.added+c.added, rest.removed+c.removed, rest.changed+c.changed
			}
			log.WithFields(logrus.Fields{"services": len(counts) - i, "added": rest.added, "removed": rest.removed, "changed": rest.changed}).
				Info("tasks of more services changed")
			return
		}
		f := logrus.Fields{"service": names[c.service], "id": c.service, "added": c.added, "removed": c.removed, "changed": c.changed}
		if len(c.states) > 0 {
			f["states"] = stateCounts(c.states)
		}
		log.WithFields(f).Info("tasks changed")
	}
}

// stateCounts formats task counts by state, "pending=9990 running=10".
func stateCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(m[k]))
	}
	return b.String()
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

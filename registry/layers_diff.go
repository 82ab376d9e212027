package registry

import (
	"net/netip"
	"slices"
)

// The diff of a Data against the base's, by ID (see layers.go).

// change is what differs between the base's Data and the Data to publish.
type change struct {
	// services are the IDs of the overlay's services (changed, and those
	// that share a name with one); newAt finds the changed ones in the
	// new Data, by ID, -1 for one removed.
	services map[string]bool
	newAt    map[string]int32
	// tasks counts the tasks of those services, old and new.
	tasks int
	// addrs are the addresses of the tasks added or changed.
	addrs []netip.Addr
	// runs are where the base's tasks are in the new Data, sorted by
	// their place in the base; moved are the places of the new Data's
	// tasks that are not in a run as they were (added, changed, moved).
	runs  []taskRun
	moved []int32
}

// changedServices diffs d against the base's Data by ID. ok is false when
// something beyond services and tasks changed, or an ID is there twice.
// Lists come mostly in the same order each time, so an object is first
// compared with the one at the same place in the base.
func (l *layers) changedServices(d *Data) (ch change, ok bool) {
	bd, idx := l.baseData, l.index
	if d.LocalNode != bd.LocalNode || !sameList(d.Networks, bd.Networks, SameNetwork) || !sameList(d.Nodes, bd.Nodes, SameNode) {
		return ch, false
	}
	ch = change{services: map[string]bool{}, newAt: map[string]int32{}}
	if len(d.Services) == len(bd.Services) && (len(d.Services) == 0 || &d.Services[0] == &bd.Services[0]) {
		return ch, l.changedTasks(d, &ch)
	}
	seen := make([]bool, len(bd.Services))
	j := 0
	for i := range d.Services {
		svc := &d.Services[i]
		o, found := int32(j), j < len(bd.Services) && bd.Services[j].ID == svc.ID
		if !found {
			o, found = idx.services[svc.ID]
		}
		if _, dup := ch.newAt[svc.ID]; dup || (found && seen[o]) {
			return ch, false
		}
		if !found || !SameService(&bd.Services[o], svc) {
			ch.services[svc.ID] = true
			ch.newAt[svc.ID] = int32(i)
		}
		if found {
			seen[o], j = true, int(o)+1
		}
	}
	for o := range seen {
		if id := bd.Services[o].ID; !seen[o] {
			ch.services[id] = true
			ch.newAt[id] = -1 // removed
		}
	}
	return ch, l.changedTasks(d, &ch)
}

// changedTasks adds to ch the services whose tasks changed: a task added,
// removed or changed, or its service's tasks in another order (their
// records come in the order of the data). It costs one comparison per
// task and allocates nothing while each task is where it was in the base;
// a task elsewhere costs a map lookup. ok is false when a task of the
// base is there twice.
func (l *layers) changedTasks(d *Data, ch *change) (ok bool) {
	bt, nt, idx := l.baseData.Tasks, d.Tasks, l.index
	if len(bt) == len(nt) && (len(nt) == 0 || &bt[0] == &nt[0]) {
		ch.runs = []taskRun{{n: int32(len(nt))}}
		return true
	}
	// j is where the next task is expected in the base, high the latest
	// place matched: while places only grow, every service's tasks keep
	// their order.
	j, high := 0, -1
	run := taskRun{}
	for i := range nt {
		t := &nt[i]
		o := j
		if j >= len(bt) || bt[j].ID != t.ID {
			p, found := idx.tasks[t.ID]
			if !found {
				ch.services[t.ServiceID] = true
				ch.addTask(i, t)
				continue
			}
			o = int(p)
			for k := j; k < o; k++ {
				ch.services[bt[k].ServiceID] = true // removed, or it comes later
			}
			if o <= high {
				if ch.matched(int32(o), run) {
					return false // there twice
				}
				ch.services[t.ServiceID] = true // out of order
				ch.addTask(i, t)
			}
		}
		if run.n > 0 && int(run.base+run.n) == o && int(run.at+run.n) == i {
			run.n++
		} else {
			if run.n > 0 {
				ch.runs = append(ch.runs, run)
			}
			run = taskRun{base: int32(o), at: int32(i), n: 1}
		}
		if old := &bt[o]; !SameTask(old, t) {
			ch.services[t.ServiceID] = true
			ch.services[old.ServiceID] = true
			ch.addTask(i, t)
		}
		high, j = max(high, o), o+1
	}
	if run.n > 0 {
		ch.runs = append(ch.runs, run)
	}
	for k := j; k < len(bt); k++ {
		ch.services[bt[k].ServiceID] = true // removed, or it came earlier
	}
	slices.SortFunc(ch.runs, func(x, y taskRun) int { return int(x.base - y.base) })
	return true
}

// matched reports whether the base's task at o is in a run already: the
// runs so far, or cur.
func (ch *change) matched(o int32, cur taskRun) bool {
	for _, r := range append(ch.runs, cur) {
		if r.base <= o && o < r.base+r.n {
			return true
		}
	}
	return false
}

// taskRun is a run of the base's tasks, base to base+n, that are the new
// Data's at to at+n.
type taskRun struct{ base, n, at int32 }

// addTask notes task t, at i in the new Data, added, changed or moved.
func (ch *change) addTask(i int, t *Task) {
	ch.moved = append(ch.moved, int32(i))
	ch.addrs = appendAddrs(ch.addrs, t)
}

// newPlace returns where the base's task at o is in the new Data, -1 if
// it is not in a run.
func (ch *change) newPlace(o int32) int32 {
	k, _ := slices.BinarySearchFunc(ch.runs, o, func(r taskRun, o int32) int {
		switch {
		case o < r.base:
			return 1
		case o >= r.base+r.n:
			return -1
		}
		return 0
	})
	if k < len(ch.runs) && ch.runs[k].base <= o && o < ch.runs[k].base+ch.runs[k].n {
		return ch.runs[k].at + o - ch.runs[k].base
	}
	return -1
}

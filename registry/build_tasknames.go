package registry

import (
	"slices"
	"strings"
)

// Task names go in the task index (see lookup.go) when the build has task
// indexes: the builder adds the names unindexed, with an entry in
// taskIndex.ents each, and the task worker files them by task ID.

// taskName returns the number of a task's name, creating it: in the task
// index, or in the name index when every name goes there.
func (b *builder) taskName(key []byte) int32 {
	c := &b.collected
	if !b.shapeIndexed {
		return c.name(key)
	}
	n := c.unindexedName(key)
	b.taskIndex.ents = append(b.taskIndex.ents, taskEnt{name: n, nets: -1, next: -1})
	c.names[n].taskEnt = int32(len(b.taskIndex.ents) - 1)
	b.jobs.ids = append(b.jobs.ids, taskIDJob{key: c.ref(n)})
	return n
}

// taskNetName returns the number of task name tn scoped to the network
// named nn, whose key is key, creating it.
func (b *builder) taskNetName(tn int32, nn string, key []byte) int32 {
	c, ti := &b.collected, &b.taskIndex
	if !b.shapeIndexed {
		return c.name(key)
	}
	nx := b.taskNetwork(nn)
	e := &ti.ents[c.names[tn].taskEnt]
	for x := e.nets; x >= 0; x = ti.nets[x].next {
		if int(ti.nets[x].network) == nx {
			return ti.nets[x].name
		}
	}
	n := c.unindexedName(key)
	e = &ti.ents[c.names[tn].taskEnt]
	ti.nets = append(ti.nets, taskNet{network: uint16(nx), name: n, next: e.nets})
	e.nets = int32(len(ti.nets) - 1)
	return n
}

// singleRecordTask adds the names of task t, whose key is in b.key: it has
// one address, recs, on one network in the default view, and its service
// has one task per slot. Its name, its slot name and its network-scoped
// name then have the same one view, the record alone, whatever else the
// build adds: so they are one name, whose set the task worker packs. Only
// its reverse name is collected, as other names may share it. It returns
// the task's name.
func (b *builder) singleRecordTask(t *Task, si *svcInfo, nn string, recs recsRef) int32 {
	c, ti := &b.collected, &b.taskIndex
	n := b.taskName(b.key)
	b.jobs.sets = append(b.jobs.sets, singleSetJob{rec: c.arena[recs.off], name: n, ttl: si.ttl, pol: si.pol})
	c.names[n].packed = true
	if t.Slot > 0 {
		b.slots.current = append(b.slots.current, slotEnt{slot: int32(t.Slot), name: n})
		b.sharedNames++
	}
	if nn == "" || len(b.key)+1+len(nn) > maxKey {
		return n
	}
	// The network-scoped name: its key is the PTR record's target.
	b.key = append(append(b.key, '.'), nn...)
	target := c.rawKey(b.key)
	nx := b.taskNetwork(nn)
	te := &ti.ents[c.names[n].taskEnt]
	ti.nets = append(ti.nets, taskNet{network: uint16(nx), name: n, next: te.nets})
	te.nets = int32(len(ti.nets) - 1)
	b.sharedNames++
	b.ptr(c.arena[recs.off].addr(), target, si)
	return n
}

// uniqueSlots reports whether no two of tasks have one slot; scratch is
// reused.
func uniqueSlots(tasks []*Task, scratch *[]int) bool {
	if len(tasks) <= smallSet {
		for i, t := range tasks {
			for _, u := range tasks[:i] {
				if t.Slot > 0 && u.Slot == t.Slot {
					return false
				}
			}
		}
		return true
	}
	slots := (*scratch)[:0]
	for _, t := range tasks {
		if t.Slot > 0 {
			slots = append(slots, t.Slot)
		}
	}
	*scratch = slots
	slices.Sort(slots)
	for i := 1; i < len(slots); i++ {
		if slots[i] == slots[i-1] {
			return false
		}
	}
	return true
}

// taskNetwork returns the number of network name nn in
// taskIndex.networks, adding it.
func (b *builder) taskNetwork(nn string) int {
	for i, u := range b.taskIndex.networks {
		if u == nn {
			return i
		}
	}
	b.taskIndex.networks = append(b.taskIndex.networks, nn)
	return len(b.taskIndex.networks) - 1
}

// taskNamesCollide reports whether the task index would not be exact:
// when some other name's last label is a task ID (or it ends with
// <taskid>.<network>), or a task ID is a network's name. Every other name
// ends with the last label of a service's name or alias, of a network's
// name, or with "arpa"; a name ending with a network's name has before it
// the last label of a service's name or alias, or, when that name or alias
// itself ends with a network's name, its last label but one. So it is
// enough to look those labels up among the task IDs.
func (b *builder) taskNamesCollide(ids *nameIndex) bool {
	if len(b.taskIndex.ents) == 0 {
		return false
	}
	isID := func(label []byte) bool { return ids.find(label, hashKey(label)) >= 0 }
	for _, nn := range b.taskIndex.networks {
		if isID([]byte(nn)) {
			return true
		}
	}
	nets := make(map[string]bool, len(b.data.Networks))
	for n := range b.data.Networks {
		name := strings.ToLower(b.data.Networks[n].Name)
		nets[name] = true
		if isID(lastLabel([]byte(name))) {
			return true
		}
		if name == "arpa" || strings.HasSuffix(name, ".arpa") {
			return true // its network-scoped names would look like reverse names
		}
	}
	if isID([]byte("arpa")) {
		return true
	}
	for _, name := range b.servedNames {
		if name == "arpa" || strings.HasSuffix(name, ".arpa") {
			return true // reverse names are looked up by shape
		}
	}
	for _, name := range b.servedNames {
		last := lastLabel([]byte(name))
		if isID(last) {
			return true
		}
		if nets[string(last)] && len(last) < len(name) && isID(lastLabel([]byte(name[:len(name)-len(last)-1]))) {
			return true
		}
	}
	return false
}

// publishTasks hands the task, slot and address indexes to the snapshot:
// copies, as a pointer into b would keep the builder.
func (b *builder) publishTasks(s *Snapshot) {
	if b.shapeIndexed && len(b.taskIndex.ents) > 0 {
		tasks := b.taskIndex
		s.tasks = &tasks
	}
	if b.shapeIndexed && len(b.reverseIndex.names) > 0 {
		reverse := b.reverseIndex
		s.reverse = &reverse
	}
	if b.shapeIndexed && len(b.slots.index.ents) > 0 {
		slots := b.slots.index
		s.slots = &slots
	}
}

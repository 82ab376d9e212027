package registry

import (
	"net/netip"
	"slices"
	"strings"
)

// taskName returns the number of a task's name, creating it: in the task
// index, or in the name index when every name goes there.
func (b *builder) taskName(key []byte) int32 {
	if !b.structural {
		return b.name(key)
	}
	// The side files it under its task ID (see side.go).
	n := b.unindexedName(key)
	b.tents = append(b.tents, taskEnt{name: n, nets: -1, next: -1})
	b.nbs[n].tent = int32(len(b.tents) - 1)
	b.tixJobs = append(b.tixJobs, tixJob{key: b.ref(n)})
	return n
}

// taskNetName returns the number of task name tn scoped to the network
// named nn, whose key is key, creating it.
func (b *builder) taskNetName(tn int32, nn string, key []byte) int32 {
	if !b.structural {
		return b.name(key)
	}
	nx := b.netNameIndex(nn)
	e := &b.tents[b.nbs[tn].tent]
	for x := e.nets; x >= 0; x = b.tnets[x].next {
		if int(b.tnets[x].network) == nx {
			return b.tnets[x].name
		}
	}
	n := b.unindexedName(key)
	e = &b.tents[b.nbs[tn].tent]
	b.tnets = append(b.tnets, taskNet{network: uint16(nx), name: n, next: e.nets})
	e.nets = int32(len(b.tnets) - 1)
	return n
}

// directTask adds the names of task t, whose key is in b.key: it has one
// address, recs, on one network in the default view, and its service has
// one task per slot. Its name, its slot name and its network-scoped name
// then have the same one view, the record alone, whatever else the build
// adds: so they are one name, whose set the side packs (see side.go). Only
// its reverse name is collected, as other names may share it. It returns
// the task's name.
func (b *builder) directTask(t *Task, si *svcInfo, nn string, recs recsRef) int32 {
	n := b.taskName(b.key)
	b.setJobs = append(b.setJobs, setJob{rec: b.arena[recs.off], name: n, ttl: si.ttl, pol: si.pol})
	b.nbs[n].packed = true
	if t.Slot > 0 {
		b.slotsNow = append(b.slotsNow, slotEnt{slot: int32(t.Slot), name: n})
		b.sharedNames++
	}
	if nn == "" || len(b.key)+1+len(nn) > maxKey {
		return n
	}
	// The network-scoped name: its key is the PTR record's target.
	b.key = append(append(b.key, '.'), nn...)
	target := b.rawKey(b.key)
	nx := b.netNameIndex(nn)
	te := &b.tents[b.nbs[n].tent]
	b.tnets = append(b.tnets, taskNet{network: uint16(nx), name: n, next: te.nets})
	te.nets = int32(len(b.tnets) - 1)
	b.sharedNames++
	b.ptr(b.arena[recs.off].addr(), target, si)
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

// netNameIndex returns the index of network name nn in b.nnUsed, adding it.
func (b *builder) netNameIndex(nn string) int {
	for i, u := range b.nnUsed {
		if u == nn {
			return i
		}
	}
	b.nnUsed = append(b.nnUsed, nn)
	return len(b.nnUsed) - 1
}

// unindexedName adds a name that the name index will not find.
func (b *builder) unindexedName(key []byte) int32 {
	off := uint32(len(b.idx.keys))
	b.idx.keys = append(b.idx.keys, key...)
	b.idx.names = append(b.idx.names, nameEnt{key: off, klen: uint8(len(key)), unindexed: true})
	b.nbs = append(b.nbs, nameB{head: -1, tent: -1, task: true})
	return int32(len(b.idx.names) - 1)
}

// ensureName adds key as an empty non-terminal unless it is a name.
func (b *builder) ensureName(key []byte) {
	h := hashKey(key)
	if b.idx.find(key, h) >= 0 {
		return
	}
	off := uint32(len(b.idx.keys))
	b.idx.keys = append(b.idx.keys, key...)
	num := b.idx.insert(off, len(key), h)
	b.idx.names[num].view, b.idx.names[num].nview = 0, 1
}

// taskNamesCollide reports whether the task index would not be exact (see
// the top of this file). Every other name ends with the last label of a
// service's name or alias, of a network's name, or with "arpa"; a name
// ending with a network's name has before it the last label of a
// service's name or alias, or, when that name or alias itself ends with a
// network's name, its last label but one. So it is enough to look those
// labels up among the task IDs.
func (b *builder) taskNamesCollide(tix *nameIndex) bool {
	if len(b.tents) == 0 {
		return false
	}
	isID := func(label []byte) bool { return tix.find(label, hashKey(label)) >= 0 }
	for _, nn := range b.nnUsed {
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
	for _, name := range b.lastNames {
		if name == "arpa" || strings.HasSuffix(name, ".arpa") {
			return true // reverse names are looked up by shape
		}
	}
	for _, name := range b.lastNames {
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

// publishTasks hands the task and address indexes to the snapshot.
func (b *builder) publishTasks(s *Snapshot) {
	if b.structural && len(b.tents) > 0 {
		s.tasks = &taskNames{ids: b.tix, heads: b.theads, ents: b.tents, nets: b.tnets, networks: b.nnUsed}
	}
	if b.structural && len(b.ptrIdx.names) > 0 {
		reverse := b.ptrIdx // a copy: a pointer into b would keep the builder
		s.reverse = &reverse
	}
	if b.structural && len(b.slotEnts) > 0 {
		s.slots = &slotNames{services: b.slotIdx, ranges: b.slotRanges, ents: b.slotEnts}
	}
}

// reverseName returns the number of the reverse name of addr in the name
// index, creating it (reverse names with their own index are built apart,
// see reverse.go).
func (b *builder) reverseName(addr netip.Addr) int32 {
	n := b.name(appendReverse(b.key[:0], addr))
	b.nbs[n].reverse = true
	return n
}

package registry

import (
	"bytes"
	"net/netip"
	"slices"
)

// Query-time lookups: a name key to its packed views. Build code is in
// the build*.go files; nothing here writes.

// Lookup returns the name with this key: lower case, relative to the zone
// (or an absolute reverse name such as "5.0.0.10.in-addr.arpa"), no
// trailing dot.
func (s *Snapshot) Lookup(key []byte) (Name, bool) {
	// In a layered snapshot the overlay decides first; ent is its empty
	// non-terminal, the answer if the base has no name here.
	var ent Name
	if s.over != nil {
		n, ok, decided := s.over.lookup(key)
		if decided {
			return n, ok
		}
		ent = n
	}
	if s.reverse != nil && bytes.HasSuffix(key, []byte(".arpa")) {
		// No other name ends so when reverse names have their index.
		if n, ok := s.lookupReverse(key); ok {
			return n, true
		}
		return ent, ent.views != nil
	}
	i := s.index.find(key, hashKey(key))
	if i >= 0 && s.index.names[i].view != 0 {
		return s.name(i), true
	}
	if len(s.nameservers) > 0 {
		if n, ok := s.nameserver(key); ok {
			return n, true
		}
	}
	// Not a name with records here. By its shape it may be a reverse
	// name, a slot name or a task's name, kept in their own indexes; any
	// of those wins over an empty non-terminal.
	if n, ok := s.lookupShaped(key); ok {
		return n, true
	}
	if i >= 0 {
		return s.name(i), true // an empty non-terminal
	}
	return ent, ent.views != nil
}

// lookupShaped looks key up in the index its shape points to: the slot
// index when it starts with a slot number, then the task index.
func (s *Snapshot) lookupShaped(key []byte) (Name, bool) {
	if len(key) == 0 {
		return Name{}, false
	}
	last := lastLabel(key)
	if s.slots != nil && '1' <= key[0] && key[0] <= '9' {
		if n, ok := s.lookupSlot(key); ok {
			return n, true
		}
	}
	if s.tasks != nil {
		return s.lookupTask(key, last)
	}
	return Name{}, false
}

// name returns the name with number num.
func (s *Snapshot) name(num int32) Name {
	e := &s.index.names[num]
	return Name{views: s.views[e.view : e.view+uint32(e.nview) : e.view+uint32(e.nview)]}
}

// Task names are most of a registry's names: each task has its name
// (<svc>.<slot>.<taskid>), its network-scoped name (<name>.<network>) on
// every network, and the empty non-terminals under them (<slot>.<taskid>,
// <taskid>, and the same under the network). Rather than putting every one
// of them in the name index, a snapshot keeps a task index by task ID; a
// name the name index does not have (or has as an empty non-terminal) is
// looked up there by its last label, or by its last-but-one when the last
// is a network's name. The names and their records are the same either
// way; the index is smaller and the build does not hash a million names.
//
// The task index is only exact when no other name is, or ends like, a
// task's name: when some other name's last label is a task ID (or it ends
// with <taskid>.<network>), or a task ID is a network's name, the snapshot
// is built again with every task name in the name index, where equal names
// merge as they always do. A Swarm task ID is 25 random characters, so
// this is for hand-written registry files.

// taskEnt is one task name: its number, and its network-scoped names.
type taskEnt struct {
	name int32 // the task's name, in index.names
	nets int32 // first taskNet, -1 for none
	next int32 // the next taskEnt with the same task ID, -1 at the end
}

// taskNet is a task's name scoped to one network.
type taskNet struct {
	name    int32
	next    int32
	network uint16 // the network's name, in taskNames.networks
}

// taskNames is a snapshot's task index.
type taskNames struct {
	ids   nameIndex // task IDs; entry i heads the taskEnt list heads[i]
	heads []int32
	ents  []taskEnt
	nets  []taskNet
	// networks are the names of the networks of network-scoped names,
	// lower case.
	networks []string
}

// lookupTask finds key, whose last label is last, among the task names
// and the empty non-terminals under them; ok is false when it is none of
// them. A last label that is a network's name makes it a network-scoped
// name (no task ID is a network's name, see taskNamesCollide).
func (s *Snapshot) lookupTask(key, last []byte) (Name, bool) {
	t := s.tasks
	net := -1
	for i, nn := range t.networks {
		if string(last) == nn {
			net = i
			break
		}
	}
	if net >= 0 {
		if len(last) == len(key) {
			return Name{}, false
		}
		key = key[:len(key)-len(last)-1]
		last = lastLabel(key)
	}
	x := t.ids.find(last, hashKey(last))
	if x < 0 {
		return Name{}, false
	}
	for e := t.heads[x]; e >= 0; e = t.ents[e].next {
		ent := &t.ents[e]
		name := ent.name
		if net >= 0 {
			name = -1
			for y := ent.nets; y >= 0; y = t.nets[y].next {
				if int(t.nets[y].network) == net {
					name = t.nets[y].name
					break
				}
			}
			if name < 0 {
				continue
			}
		}
		tk := s.index.key(&s.index.names[ent.name])
		if string(tk) == string(key) {
			return s.name(name), true
		}
		if len(key) < len(tk) && tk[len(tk)-len(key)-1] == '.' && string(tk[len(tk)-len(key):]) == string(key) {
			return Name{views: s.views[0:1:1]}, true // an empty non-terminal under it
		}
	}
	return Name{}, false
}

// Slot names (<slot>.<svc>, one per replicated task slot) are kept like
// task names (above): not in the name index but in a slot index,
// by service name, of each service's slots in order. A question whose
// first label is a slot number is looked up there by the rest. When a
// service's or alias's name starts with a number, or two services have one
// name, the build puts every name in the name index instead, where equal
// names merge.

// slotEnt is one slot name of a service.
type slotEnt struct {
	slot int32
	name int32
}

// slotRange is a service's slotEnts, sorted by slot.
type slotRange struct{ off, n uint32 }

// slotNames is a snapshot's slot index.
type slotNames struct {
	services nameIndex
	ranges   []slotRange
	ents     []slotEnt
}

// lookupSlot finds a slot name.
func (s *Snapshot) lookupSlot(key []byte) (Name, bool) {
	dot := 0
	for dot < len(key) && key[dot] != '.' {
		dot++
	}
	// A slot as strconv writes it: digits, no leading zero, an int32.
	if dot == 0 || dot == len(key) || dot > 9 || key[0] == '0' {
		return Name{}, false
	}
	slot := 0
	for _, c := range key[:dot] {
		if c < '0' || c > '9' {
			return Name{}, false
		}
		slot = 10*slot + int(c-'0')
	}
	rest := key[dot+1:]
	x := s.slots.services.find(rest, hashKey(rest))
	if x < 0 {
		return Name{}, false
	}
	r := s.slots.ranges[x]
	ents := s.slots.ents[r.off : r.off+r.n]
	i, found := slices.BinarySearchFunc(ents, int32(slot), func(e slotEnt, t int32) int { return int(e.slot - t) })
	if !found {
		return Name{}, false
	}
	return s.name(ents[i].name), true
}

// sharedNames calls fn for the names that have no entry of their own in
// the name index: a task's slot and network-scoped names that are its
// name (see singleRecordTask), and the reverse names of the address
// index. For Names, not for queries.
func (s *Snapshot) sharedNames(fn func(key string, n Name)) {
	var key []byte
	if t := s.tasks; t != nil {
		for i := range t.ents {
			ent := &t.ents[i]
			for x := ent.nets; x >= 0; x = t.nets[x].next {
				if tn := &t.nets[x]; tn.name == ent.name {
					key = append(append(append(key[:0], s.index.key(&s.index.names[ent.name])...), '.'), t.networks[tn.network]...)
					fn(string(key), s.name(ent.name))
				}
			}
		}
	}
	if sl := s.slots; sl != nil {
		for x := range sl.services.names {
			svc := sl.services.key(&sl.services.names[x])
			r := sl.ranges[x]
			for _, e := range sl.ents[r.off : r.off+r.n] {
				key = appendSlotKey(key[:0], int(e.slot), string(svc))
				if string(s.index.key(&s.index.names[e.name])) != string(key) {
					fn(string(key), s.name(e.name))
				}
			}
		}
	}
	if r := s.reverse; r != nil {
		for e, v := range r.names {
			ip := [16]byte(r.ips.keys[16*e : 16*e+16])
			key = appendReverse(key[:0], netip.AddrFrom16(ip).Unmap())
			fn(string(key), Name{views: s.views[v : v+1 : v+1]})
		}
	}
}

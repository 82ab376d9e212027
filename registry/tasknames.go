package registry

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
)

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

// Reverse names are kept the same way: an index by address finds them,
// and a reverse name is parsed into its address to look it up.

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

func lastLabel(key []byte) []byte {
	return key[bytes.LastIndexByte(key, '.')+1:]
}

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

// lookupReverse finds a reverse name ("4.3.2.1.in-addr.arpa") by its
// address; ok is false when key is not one, or not of an address here.
func (s *Snapshot) lookupReverse(key []byte) (Name, bool) {
	a, ok := parseReverse(key)
	if !ok {
		return Name{}, false
	}
	ip := a.As16()
	v := s.reverse.find(&ip, hashIP(&ip))
	if v < 0 {
		return Name{}, false
	}
	return Name{views: s.views[v : v+1 : v+1]}, true
}

// parseReverse returns the address whose reverse name is key, in the one
// form appendReverse writes: decimal octets without leading zeros, or 32
// lower-case nibbles of an address that is not an IPv4 one.
func parseReverse(key []byte) (netip.Addr, bool) {
	var a netip.Addr
	switch {
	case bytes.HasSuffix(key, []byte(".in-addr.arpa")):
		var v [4]byte
		rest := key[:len(key)-len(".in-addr.arpa")]
		for i := 0; i < 4; i++ {
			n, digits := 0, 0
			for digits < len(rest) && rest[digits] != '.' {
				c := rest[digits]
				if c < '0' || c > '9' || digits == 3 || (digits > 0 && rest[0] == '0') {
					return a, false
				}
				n = 10*n + int(c-'0')
				digits++
			}
			if digits == 0 || n > 255 {
				return a, false
			}
			v[3-i] = byte(n)
			rest = rest[digits:]
			if i < 3 {
				if len(rest) == 0 {
					return a, false
				}
				rest = rest[1:] // the dot
			}
		}
		if len(rest) != 0 {
			return a, false
		}
		return netip.AddrFrom4(v), true
	case bytes.HasSuffix(key, []byte(".ip6.arpa")):
		rest := key[:len(key)-len(".ip6.arpa")]
		if len(rest) != 63 {
			return a, false
		}
		var v [16]byte
		for i := 0; i < 32; i++ {
			c := rest[2*i]
			if i < 31 && rest[2*i+1] != '.' {
				return a, false
			}
			var nib byte
			switch {
			case '0' <= c && c <= '9':
				nib = c - '0'
			case 'a' <= c && c <= 'f':
				nib = c - 'a' + 10
			default:
				return a, false
			}
			// Nibbles come lowest first: byte 15's low nibble, then its high.
			if i%2 == 0 {
				v[15-i/2] |= nib
			} else {
				v[15-i/2] |= nib << 4
			}
		}
		a = netip.AddrFrom16(v)
		// An IPv4 address in IPv6 is written as an IPv4 one.
		return a, !a.Is4In6()
	}
	return a, false
}

// addrIndex maps addresses to name numbers: a nameIndex over the
// addresses' 16 bytes, with the name of each of its entries.
type addrIndex struct {
	ips   nameIndex
	names []int32
}

func newAddrIndex(n int) addrIndex {
	return addrIndex{ips: newNameIndex(n, n, 16*n), names: make([]int32, 0, n)}
}

func hashIP(ip *[16]byte) uint32 { return hashKey(ip[:]) }

// find returns the name of ip (whose hash is h), or -1.
func (x *addrIndex) find(ip *[16]byte, h uint32) int32 {
	e := x.ips.find(ip[:], h)
	if e < 0 {
		return -1
	}
	return x.names[e]
}

// add adds ip, known to be absent, for the name.
func (x *addrIndex) add(ip *[16]byte, h uint32, name int32) {
	off := uint32(len(x.ips.keys))
	x.ips.keys = append(x.ips.keys, ip[:]...)
	x.ips.insert(off, len(ip), h)
	x.names = append(x.names, name)
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

// sharedNames calls fn for the names that have no entry of their own in
// the name index: a task's slot and network-scoped names that are its
// name (see directTask), and the reverse names of the address index.
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

// name returns the name with number num.
func (s *Snapshot) name(num int32) Name {
	e := &s.index.names[num]
	return Name{views: s.views[e.view : e.view+uint32(e.nview) : e.view+uint32(e.nview)]}
}

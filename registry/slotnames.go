package registry

import (
	"slices"
)

// Slot names (<slot>.<svc>, one per replicated task slot) are kept like
// task names (see tasknames.go): not in the name index but in a slot index,
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

// slotName returns the number of the slot name key (<slot>.<svc>) of the
// service being built, creating it.
func (b *builder) slotName(slot int, key []byte) int32 {
	if !b.structural {
		return b.name(key)
	}
	if len(b.slotsNow) <= smallSet {
		for _, e := range b.slotsNow {
			if int(e.slot) == slot {
				return e.name
			}
		}
	} else if n, ok := b.slotMap[int32(slot)]; ok {
		return n
	}
	n := b.unindexedName(key)
	b.slotsNow = append(b.slotsNow, slotEnt{slot: int32(slot), name: n})
	if len(b.slotsNow) > smallSet {
		if b.slotMap == nil {
			b.slotMap = make(map[int32]int32)
		}
		if len(b.slotsNow) == smallSet+1 {
			clear(b.slotMap)
			for _, e := range b.slotsNow {
				b.slotMap[e.slot] = e.name
			}
		}
		b.slotMap[int32(slot)] = n
	}
	return n
}

// endSlots files the slot names of the service just built under its name.
func (b *builder) endSlots(svc string) {
	if len(b.slotsNow) == 0 {
		return
	}
	slices.SortFunc(b.slotsNow, func(x, y slotEnt) int { return int(x.slot - y.slot) })
	if _, added := b.slotIdx.intern([]byte(svc)); !added {
		b.slotDup = true // the build starts again with every name indexed
		b.slotsNow = b.slotsNow[:0]
		return
	}
	b.slotRanges = append(b.slotRanges, slotRange{off: uint32(len(b.slotEnts)), n: uint32(len(b.slotsNow))})
	b.slotEnts = append(b.slotEnts, b.slotsNow...)
	b.slotsNow = b.slotsNow[:0]
	b.slotOwners = append(b.slotOwners, svc)
}

// slotNamesCollide reports whether the slot index would not be exact.
func (b *builder) slotNamesCollide() bool {
	if len(b.slotEnts) == 0 {
		return false
	}
	if b.slotDup {
		return true
	}
	for _, name := range b.lastNames {
		if dot := indexDot(name); dot > 0 && allDigits(name[:dot]) {
			return true
		}
	}
	return false
}

func indexDot(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
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

package registry

import (
	"slices"
)

// Slot names go in the slot index (see lookup.go) when the build has task
// indexes: the builder collects a service's slot names as it adds the
// service, and files them under the service's name at its end.

// slotIndexBuilder is the slot index being made.
type slotIndexBuilder struct {
	index slotNames // the snapshot's
	// current are the slot names of the service being added, unsorted;
	// bySlot finds them when there are many.
	current []slotEnt
	bySlot  map[int32]int32
	dup     bool     // two services have one name
	owners  []string // the names of the services that have slot names
}

// slotName returns the number of the slot name key (<slot>.<svc>) of the
// service being built, creating it.
func (b *builder) slotName(slot int, key []byte) int32 {
	if !b.shapeIndexed {
		return b.collected.name(key)
	}
	sl := &b.slots
	if len(sl.current) <= smallSet {
		for _, e := range sl.current {
			if int(e.slot) == slot {
				return e.name
			}
		}
	} else if n, ok := sl.bySlot[int32(slot)]; ok {
		return n
	}
	n := b.collected.unindexedName(key)
	sl.current = append(sl.current, slotEnt{slot: int32(slot), name: n})
	if len(sl.current) > smallSet {
		if sl.bySlot == nil {
			sl.bySlot = make(map[int32]int32)
		}
		if len(sl.current) == smallSet+1 {
			clear(sl.bySlot)
			for _, e := range sl.current {
				sl.bySlot[e.slot] = e.name
			}
		}
		sl.bySlot[int32(slot)] = n
	}
	return n
}

// endSlots files the slot names of the service just built under its name.
func (b *builder) endSlots(svc string) {
	sl := &b.slots
	if len(sl.current) == 0 {
		return
	}
	slices.SortFunc(sl.current, func(x, y slotEnt) int { return int(x.slot - y.slot) })
	if _, added := sl.index.services.intern([]byte(svc)); !added {
		sl.dup = true // the build starts again with every name indexed
		sl.current = sl.current[:0]
		return
	}
	sl.index.ranges = append(sl.index.ranges, slotRange{off: uint32(len(sl.index.ents)), n: uint32(len(sl.current))})
	sl.index.ents = append(sl.index.ents, sl.current...)
	sl.current = sl.current[:0]
	sl.owners = append(sl.owners, svc)
}

// slotNamesCollide reports whether the slot index would not be exact.
func (b *builder) slotNamesCollide() bool {
	sl := &b.slots
	if len(sl.index.ents) == 0 {
		return false
	}
	if sl.dup {
		return true
	}
	for _, name := range b.servedNames {
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

package registry

import (
	"slices"
)

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

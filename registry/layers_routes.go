package registry

import (
	"math/bits"
	"slices"
)

// routes find, by a key's hash, the group of a layered snapshot that has
// an entry for the key (see overlay.go). They are persistent: a publish
// copies the page table and the pages its groups' keys fall in, and
// shares the others with the snapshot before; nothing published is
// written again. A page is a small open-addressing table of (hash, group)
// slots; a lookup is one page and, nearly always, one probe of the
// group's index.
type routes struct {
	pages []*routePage // by the hash's top bits; nil: no key there
	shift uint8        // 32 - log2(len(pages))
	n     int          // slots in use
}

type routePage struct {
	slots []routeSlot // a power of two, at most half full
}

type routeSlot struct {
	g *group // nil: a free slot
	h uint32
}

// routeLoad is the mean number of keys in a page: the page table is
// resized (every page made again) when it is four times off.
const routeLoad = 8

// find returns the group with an entry for key (whose hash is h), other
// than those in skip, and the entry; nil when no group has one.
func (r *routes) find(key []byte, h uint32, skip map[*group]bool) (*group, int32) {
	if len(r.pages) == 0 {
		return nil, -1
	}
	p := r.pages[h>>r.shift]
	if p == nil {
		return nil, -1
	}
	mask := uint32(len(p.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &p.slots[i]
		if s.g == nil {
			return nil, -1
		}
		if s.h == h && (skip == nil || !skip[s.g]) {
			if e := s.g.snap.index.find(key, h); e >= 0 {
				return s.g, e
			}
		}
	}
}

// shared reports whether some key of one of groups, not a network's
// name, is a key of another of them too.
func shared(groups []*group, nets map[string]bool) bool {
	if len(groups) < 2 {
		return false
	}
	n := 0
	for _, g := range groups {
		g.keyHashes(func(uint32) { n++ })
	}
	r := makeRoutes(groups, n)
	for _, g := range groups {
		x, self := &g.snap.index, map[*group]bool{g: true}
		for i := range x.names {
			e := &x.names[i]
			if e.unindexed || nets[string(x.key(e))] {
				continue
			}
			if o, _ := r.find(x.key(e), e.hash, self); o != nil {
				return true
			}
		}
	}
	return false
}

// keyHashes calls fn with the hash of each key of the group.
func (g *group) keyHashes(fn func(h uint32)) {
	for i := range g.snap.index.names {
		if e := &g.snap.index.names[i]; !e.unindexed {
			fn(e.hash)
		}
	}
}

// with returns the routes of groups, which are r's groups less those of
// drop, plus those of add.
func (r routes) with(groups []*group, drop map[*group]bool, add []*group) routes {
	n := r.n
	for g := range drop {
		g.keyHashes(func(uint32) { n-- })
	}
	for _, g := range add {
		g.keyHashes(func(uint32) { n++ })
	}
	if n == 0 {
		return routes{}
	}
	want := max(1, n/routeLoad)
	if len(r.pages) == 0 || want > 4*len(r.pages) || 4*want < len(r.pages) {
		return makeRoutes(groups, n)
	}
	// The pages the changed groups' keys fall in are made again.
	var touched []uint32
	for g := range drop {
		g.keyHashes(func(h uint32) { touched = append(touched, h>>r.shift) })
	}
	var added []routeSlot
	for _, g := range add {
		g.keyHashes(func(h uint32) { added = append(added, routeSlot{g: g, h: h}) })
	}
	slices.SortFunc(added, func(x, y routeSlot) int { return int(x.h>>r.shift) - int(y.h>>r.shift) })
	for _, s := range added {
		touched = append(touched, s.h>>r.shift)
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	out := routes{pages: slices.Clone(r.pages), shift: r.shift, n: n}
	var keep []routeSlot
	for _, pn := range touched {
		keep = keep[:0]
		if p := r.pages[pn]; p != nil {
			for _, s := range p.slots {
				if s.g != nil && !drop[s.g] {
					keep = append(keep, s)
				}
			}
		}
		for len(added) > 0 && added[0].h>>r.shift == pn {
			keep = append(keep, added[0])
			added = added[1:]
		}
		out.pages[pn] = newRoutePage(keep)
	}
	return out
}

// makeRoutes makes the routes of groups, n keys in all, every page anew.
func makeRoutes(groups []*group, n int) routes {
	lg := max(0, bits.Len(uint(n/routeLoad))-1)
	r := routes{pages: make([]*routePage, 1<<lg), shift: uint8(32 - lg), n: n}
	byPage := make([][]routeSlot, len(r.pages))
	for _, g := range groups {
		g.keyHashes(func(h uint32) {
			pn := uint64(h) >> r.shift
			byPage[pn] = append(byPage[pn], routeSlot{g: g, h: h})
		})
	}
	for pn, slots := range byPage {
		r.pages[pn] = newRoutePage(slots)
	}
	return r
}

// newRoutePage returns a page of these slots; nil for none.
func newRoutePage(slots []routeSlot) *routePage {
	if len(slots) == 0 {
		return nil
	}
	size := 4
	for size < 2*len(slots) {
		size *= 2
	}
	p := &routePage{slots: make([]routeSlot, size)}
	mask := uint32(size - 1)
	for _, s := range slots {
		i := s.h & mask
		for p.slots[i].g != nil {
			i = (i + 1) & mask
		}
		p.slots[i] = s
	}
	return p
}

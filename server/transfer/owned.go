package transfer

import "math/bits"

// ownNames is the records of the names a derived version of a zone keeps
// itself instead of the anchor's (the shadowed names), by owner name. It
// is persistent: the version derived next copies the page table and the
// pages its changed names fall in, and shares the other pages; nothing a
// version holds is written again. A page is a short list of names by the
// top bits of the owner's hash; a lookup is one page and a few hashes.
type ownNames struct {
	pages []*ownPage // by the hash's top bits; nil: no name there
	shift uint8      // 64 - log2(len(pages))
	names int
	recs  int // records of all names, and their bytes
	bytes int
}

type ownPage struct {
	names []*ownName
}

// ownName is the distinct records of one name in one zone, back to back;
// none when the name has none now (its anchor's records are still hidden).
type ownName struct {
	h     uint64 // fnv64 of owner
	owner string // wire format
	arena []byte
	ends  []uint32
}

// ownLoad is the mean number of names in a page: the page table is made
// again when it is four times off.
const ownLoad = 8

// each calls fn with each record of the name.
func (n *ownName) each(fn func(rr []byte)) {
	start := uint32(0)
	for _, end := range n.ends {
		fn(n.arena[start:end])
		start = end
	}
}

// find returns the name whose owner is owner (hash h), or nil.
func (o *ownNames) find(owner []byte, h uint64) *ownName {
	if o == nil || len(o.pages) == 0 {
		return nil
	}
	p := o.pages[h>>o.shift]
	if p == nil {
		return nil
	}
	for _, n := range p.names {
		if n.h == h && n.owner == string(owner) {
			return n
		}
	}
	return nil
}

// has reports whether the version keeps the records of owner itself.
func (o *ownNames) has(owner []byte) bool { return o.find(owner, fnv64(owner)) != nil }

// each calls fn with every name.
func (o *ownNames) each(fn func(n *ownName)) {
	if o == nil {
		return
	}
	for _, p := range o.pages {
		if p != nil {
			for _, n := range p.names {
				fn(n)
			}
		}
	}
}

// with returns the names of o with those of set in place of o's of the
// same owners (set has each owner once); o is left as it is.
func (o *ownNames) with(set []*ownName) *ownNames {
	if len(set) == 0 {
		return o
	}
	if o == nil {
		o = &ownNames{}
	}
	out := &ownNames{names: o.names, recs: o.recs, bytes: o.bytes}
	for _, n := range set {
		if old := o.find([]byte(n.owner), n.h); old != nil {
			out.recs, out.bytes = out.recs-len(old.ends), out.bytes-len(old.arena)
		} else {
			out.names++
		}
		out.recs, out.bytes = out.recs+len(n.ends), out.bytes+len(n.arena)
	}
	want := max(1, out.names/ownLoad)
	if len(o.pages) == 0 || want > 4*len(o.pages) || 4*want < len(o.pages) {
		out.repage(o, set)
		return out
	}
	out.pages, out.shift = append([]*ownPage(nil), o.pages...), o.shift
	copied := map[int]bool{}
	for _, n := range set {
		pn := int(n.h >> out.shift)
		p := out.pages[pn]
		if !copied[pn] {
			cp := &ownPage{}
			if p != nil {
				cp.names = append(make([]*ownName, 0, len(p.names)+1), p.names...)
			}
			p, out.pages[pn], copied[pn] = cp, cp, true
		}
		p.put(n)
	}
	return out
}

// put adds n to the page, in place of the name of the same owner.
func (p *ownPage) put(n *ownName) {
	for i, m := range p.names {
		if m.h == n.h && m.owner == n.owner {
			p.names[i] = n
			return
		}
	}
	p.names = append(p.names, n)
}

// repage makes every page of out anew, of the names of o and set.
func (out *ownNames) repage(o *ownNames, set []*ownName) {
	lg := max(0, bits.Len(uint(out.names/ownLoad))-1)
	out.pages, out.shift = make([]*ownPage, 1<<lg), uint8(64-lg)
	add := func(n *ownName) {
		pn := n.h >> out.shift
		if out.pages[pn] == nil {
			out.pages[pn] = &ownPage{}
		}
		out.pages[pn].put(n)
	}
	o.each(add)
	for _, n := range set {
		add(n)
	}
}

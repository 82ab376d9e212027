package transfer

import (
	"bytes"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// A new version of the zones costs what the publish changed. When the
// snapshot is layered over the same base as the last version's, only the
// names of the overlay groups one of the two snapshots holds and the
// other does not can differ (registry Snapshot.OverlayKeysSince): the
// difference is computed on their records alone, in both snapshots. The
// new version is the records of the anchor — the last version computed
// from a whole snapshot, of that base — but for its own names, whose
// records it keeps itself (ownNames): the last version's own names, with
// those of the changed names in place. A zone none of whose names changed
// shares the last version's; one that did shares the pages of own names
// its changes do not touch. Anything else (a new base, another apex)
// computes the whole zone again.

// anchor is the last version computed from a whole snapshot; the versions
// of later snapshots over the same base are layered over its records.
type anchor struct {
	snap *registry.Snapshot
	recs []*records // by zone
	apex []byte     // the apex records but the SOA, to tell that they stay
}

// version is the zones of one snapshot before their serials: each zone's
// records and, when derived from the last version, its difference.
type version struct {
	zones  []*zone
	diffs  []*diff // by zone; nil when computed from the whole snapshot
	anchor *anchor
}

// apexRecords is the records of the apex but the SOA, back to back.
func apexRecords(snap *registry.Snapshot) []byte {
	var b []byte
	for _, set := range snap.Apex().Views()[0].Sets() {
		if set.Type == dns.TypeSOA {
			continue
		}
		for i := 0; i < set.Len(); i++ {
			b = append(b, set.Record(i)...)
		}
	}
	return b
}

// whole computes the version of snap from the whole snapshot.
func (zs *zoneSet) whole(snap *registry.Snapshot, prev []*zone) *version {
	recs := zs.collect(snap, prev)
	v := &version{anchor: &anchor{snap: snap, recs: recs, apex: apexRecords(snap)}}
	for i, r := range recs {
		z := newZone(zs.origins[i])
		z.recs, z.hash = r, r.sum
		v.zones = append(v.zones, z)
	}
	return v
}

// derive computes the version of snap from the last one, st; ok is false
// when it cannot: the version must be computed from the whole snapshot.
func (zs *zoneSet) derive(st *state, snap *registry.Snapshot) (*version, bool) {
	if st == nil || st.anchor == nil || st.snap == nil || !zs.same(st) {
		return nil, false
	}
	a := st.anchor
	if a.snap.Base() != snap.Base() || !bytes.Equal(a.apex, apexRecords(snap)) {
		return nil, false
	}
	changed, ok := changedKeys(snap, st.snap)
	if !ok {
		return nil, false
	}
	was, _ := zs.collectNames(st.snap, changed)
	is, spans := zs.collectNames(snap, changed)
	names := ownNamesOf(is, spans)
	v := &version{anchor: a}
	for i := range zs.origins {
		d := diffOf(&zone{recs: was[i]}, &zone{recs: is[i]})
		// The last version's zone is of the same anchor: its records, or
		// layered over them.
		last := st.zones[i]
		z := newZone(zs.origins[i])
		z.base, z.own = a.recs[i], last.own.with(names[i])
		z.hash = last.hash
		for _, rr := range d.removed {
			z.hash.remove(fnv64([]byte(rr)))
		}
		for _, rr := range d.added {
			z.hash.add(fnv64([]byte(rr)))
		}
		v.zones, v.diffs = append(v.zones, z), append(v.diffs, d)
	}
	return v, true
}

// changedKeys returns the keys at which snap may differ from last, each
// once; ok is false when registry cannot tell.
func changedKeys(snap, last *registry.Snapshot) (keys []string, ok bool) {
	seen := map[string]struct{}{}
	ok = snap.OverlayKeysSince(last, func(key string) {
		if _, dup := seen[key]; !dup {
			seen[key] = struct{}{}
			keys = append(keys, key)
		}
	})
	return keys, ok
}

// same reports whether st has the zones of zs, in the same order. A
// domain under .arpa could share owner names with a reverse zone: its
// versions are always computed whole.
func (zs *zoneSet) same(st *state) bool {
	if len(st.zones) != len(zs.origins) || bytes.HasSuffix([]byte(zs.domain), []byte(".arpa.")) {
		return false
	}
	for i, z := range st.zones {
		if z.origin != zs.origins[i] {
			return false
		}
	}
	return true
}

// span is where the records of one name are in the records of its zone:
// numbers lo to hi.
type span struct {
	zone   int
	owner  []byte // wire format
	lo, hi int
}

// collectNames makes the records of the names keys (each once) in snap,
// by zone, and says where each name's are.
func (zs *zoneSet) collectNames(snap *registry.Snapshot, keys []string) ([]*records, []span) {
	recs := make([]*records, len(zs.origins))
	for i := range recs {
		recs[i] = &records{}
	}
	spans := make([]span, 0, len(keys))
	for _, key := range keys {
		z, owner := zs.of(key, nil)
		if z < 0 {
			continue
		}
		r := recs[z]
		lo := r.len()
		if n, ok := snap.Lookup([]byte(key)); ok {
			r.addName(owner, n)
		}
		// A reverse zone of one address has its name at the apex, whose
		// records are then the name's too.
		if o := zs.origins[z]; z > 0 && len(key)+1 == len(o) && o[:len(key)] == key {
			zs.addApex(r, z, snap)
		}
		spans = append(spans, span{zone: z, owner: owner, lo: lo, hi: r.len()})
	}
	for _, r := range recs {
		r.finish()
	}
	return recs, spans
}

// ownNamesOf makes the own names of the spans of recs, by zone: each
// name's distinct records, copied out.
func ownNamesOf(recs []*records, spans []span) [][]*ownName {
	out := make([][]*ownName, len(recs))
	for _, sp := range spans {
		r := recs[sp.zone]
		n := &ownName{h: fnv64(sp.owner), owner: string(sp.owner)}
		if sp.hi > sp.lo {
			start := uint32(0)
			if sp.lo > 0 {
				start = r.ends[sp.lo-1]
			}
			n.arena = make([]byte, 0, int(r.ends[sp.hi-1]-start))
			n.ends = make([]uint32, 0, sp.hi-sp.lo)
		}
		// Records of two names differ by their owners: a copy is of one
		// of the name's own.
		for i := sp.lo; i < sp.hi; i++ {
			if r.dup == nil || !r.dup[i] {
				n.arena = append(n.arena, r.record(uint32(i))...)
				n.ends = append(n.ends, uint32(len(n.arena)))
			}
		}
		out[sp.zone] = append(out[sp.zone], n)
	}
	return out
}

// size is the number of records of the version, duplicates included, and
// their bytes.
func (z *zone) size() (n, bytes int) {
	if z.base == nil {
		return z.recs.len(), len(z.recs.arena)
	}
	n, bytes = z.base.len(), len(z.base.arena)
	if z.own != nil {
		n, bytes = n+z.own.recs, bytes+z.own.bytes
	}
	return n, bytes
}

// each calls fn with every distinct record of the version: a whole one's
// in the order they were added, a derived one's the base's first.
func (z *zone) each(fn func(rr []byte)) {
	if z.base == nil {
		z.recs.eachDistinct(fn)
		return
	}
	z.eachBase(func(i int, shadowed bool) {
		if !shadowed && (z.base.dup == nil || !z.base.dup[i]) {
			fn(z.base.record(uint32(i)))
		}
	})
	z.own.each(func(n *ownName) { n.each(fn) })
}

// eachDistinct calls fn with every record but the copies, in order.
func (r *records) eachDistinct(fn func(rr []byte)) {
	for i := 0; i < r.len(); i++ {
		if r.dup == nil || !r.dup[i] {
			fn(r.record(uint32(i)))
		}
	}
}

// eachBase calls fn with every record number of the base and whether its
// name is shadowed, one lookup per name.
func (z *zone) eachBase(fn func(i int, shadowed bool)) {
	var last []byte
	hidden := false
	for i := 0; i < z.base.len(); i++ {
		rr := z.base.record(uint32(i))
		owner := rr[:len(rr)-len(skipOwner(rr))]
		if last == nil || !bytes.Equal(owner, last) {
			hidden = z.own.has(owner)
			last = owner
		}
		fn(i, hidden)
	}
}

// skipOwner returns rr after its owner name.
func skipOwner(rr []byte) []byte {
	off := 0
	for off < len(rr) && rr[off] != 0 {
		off += 1 + int(rr[off])
	}
	return rr[min(off+1, len(rr)):]
}

// listing is the distinct records of a version by (hash, bytes), and the
// lists whose records they number: first's, then second's.
type listing struct {
	byHash        []hashed
	first, second *records
}

// record returns record i of the listing.
func (l *listing) record(i uint32) []byte {
	if n := uint32(l.first.len()); i >= n {
		return l.second.record(i - n)
	}
	return l.first.record(i)
}

// listing returns the distinct records of the version by (hash, bytes).
// A derived version's is made anew (only a version computed whole, from
// a new base, asks for it): the base's not shadowed, merged with those of
// its own names.
func (z *zone) listing() *listing {
	if z.base == nil {
		return &listing{byHash: z.recs.byHash, first: z.recs}
	}
	own := &records{}
	z.own.each(func(n *ownName) {
		n.each(func(rr []byte) {
			own.arena = append(own.arena, rr...)
			own.ends = append(own.ends, uint32(len(own.arena)))
		})
	})
	own.finish()
	hidden := make([]bool, z.base.len())
	z.eachBase(func(i int, shadowed bool) { hidden[i] = shadowed })
	n := uint32(z.base.len())
	out := make([]hashed, 0, len(z.base.byHash)+len(own.byHash))
	a, b := z.base.byHash, own.byHash
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(a) > 0 && hidden[a[0].i]:
			a = a[1:]
		case len(b) == 0 || len(a) > 0 && a[0].h <= b[0].h:
			out, a = append(out, a[0]), a[1:]
		default:
			out, b = append(out, hashed{h: b[0].h, i: b[0].i + n}), b[1:]
		}
	}
	return &listing{byHash: out, first: z.base, second: own}
}

package transfer

import (
	"bytes"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// A new version of the zones costs what the publish changed. When the
// snapshot is layered over the same base as the last version's (or is
// that base), only the names that either overlay holds can differ
// (registry Snapshot.OverlayKeys): the difference is computed on their
// records alone, in both snapshots, and the new version is the records of
// the anchor — the last version computed from a whole snapshot, of that
// base — but for the names either overlay holds, whose records it keeps
// itself. Anything else (a new base, another apex) computes the whole
// zone again.

// anchor is the last version computed from a whole snapshot; the versions
// of later snapshots over the same base are layered over its records.
type anchor struct {
	snap *registry.Snapshot
	keys []string   // snap's overlay keys
	recs []*records // by zone
	apex []byte     // the apex records but the SOA, to tell that they stay
}

// version is the zones of one snapshot before their serials: each zone's
// records and, when derived from the last version, its difference.
type version struct {
	zones  []*zone
	diffs  []*diff // by zone; nil when computed from the whole snapshot
	anchor *anchor
	keys   []string // the snapshot's overlay keys
}

// overlayKeys returns the keys at which snap may differ from its base.
func overlayKeys(snap *registry.Snapshot) []string {
	var keys []string
	snap.OverlayKeys(func(key string) { keys = append(keys, key) })
	return keys
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
	v := &version{keys: overlayKeys(snap)}
	v.anchor = &anchor{snap: snap, keys: v.keys, recs: recs, apex: apexRecords(snap)}
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
	a, base := st.anchor, snap.Base()
	if a.snap.Base() != base || st.snap.Base() != base || !bytes.Equal(a.apex, apexRecords(snap)) {
		return nil, false
	}
	v := &version{keys: overlayKeys(snap), anchor: a}
	// The new version's own names: those the anchor's records are not of.
	own, shadowed := union(a.keys, v.keys), map[string]struct{}{}
	var owner []byte
	for _, key := range own {
		if z, w := zs.of(key, owner[:0]); z >= 0 {
			shadowed[string(w)] = struct{}{}
			owner = w
		}
	}
	recs := zs.collectNames(snap, own)
	// The difference: the names either snapshot's overlay holds.
	changed := union(st.keys, v.keys)
	was, is := zs.collectNames(st.snap, changed), zs.collectNames(snap, changed)
	for i := range zs.origins {
		d := diffOf(&zone{recs: was[i]}, &zone{recs: is[i]})
		z := newZone(zs.origins[i])
		z.recs, z.base, z.shadowed = recs[i], a.recs[i], shadowed
		z.hash = st.zones[i].hash
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

// collectNames makes the records of the names keys in snap, by zone.
func (zs *zoneSet) collectNames(snap *registry.Snapshot, keys []string) []*records {
	recs := make([]*records, len(zs.origins))
	for i := range recs {
		recs[i] = &records{}
	}
	var owner []byte
	for _, key := range keys {
		if n, ok := snap.Lookup([]byte(key)); ok {
			owner = zs.addName(recs, key, n, owner)
		}
		// A reverse zone of one address has its name at the apex, whose
		// records are then the name's too.
		for i := 1; i < len(zs.origins); i++ {
			if len(key)+1 == len(zs.origins[i]) && key+"." == zs.origins[i] {
				zs.addApex(recs[i], i, snap)
			}
		}
	}
	for _, r := range recs {
		r.finish()
	}
	return recs
}

// union returns the keys of a and b, each once.
func union(a, b []string) []string {
	seen := make(map[string]struct{}, len(a)+len(b))
	out := make([]string, 0, len(a)+len(b))
	for _, l := range [2][]string{a, b} {
		for _, k := range l {
			if _, ok := seen[k]; !ok {
				seen[k] = struct{}{}
				out = append(out, k)
			}
		}
	}
	return out
}

// record returns record i of the version: the base's numbers first.
func (z *zone) record(i uint32) []byte {
	if z.base != nil {
		if n := uint32(z.base.len()); i >= n {
			return z.recs.record(i - n)
		}
		return z.base.record(i)
	}
	return z.recs.record(i)
}

// size is the number of records of the version, duplicates included, and
// their bytes.
func (z *zone) size() (n, bytes int) {
	n, bytes = z.recs.len(), len(z.recs.arena)
	if z.base != nil {
		n, bytes = n+z.base.len(), bytes+len(z.base.arena)
	}
	return n, bytes
}

// each calls fn with every distinct record of the version, the base's
// first, in the order they were added.
func (z *zone) each(fn func(rr []byte)) {
	if z.base != nil {
		z.eachBase(func(i int, shadowed bool) {
			if !shadowed && (z.base.dup == nil || !z.base.dup[i]) {
				fn(z.base.record(uint32(i)))
			}
		})
	}
	for i := 0; i < z.recs.len(); i++ {
		if z.recs.dup == nil || !z.recs.dup[i] {
			fn(z.recs.record(uint32(i)))
		}
	}
}

// eachBase calls fn with every record number of the base and whether its
// name is shadowed, one map lookup per name.
func (z *zone) eachBase(fn func(i int, shadowed bool)) {
	var last []byte
	hidden := false
	for i := 0; i < z.base.len(); i++ {
		rr := z.base.record(uint32(i))
		owner := rr[:len(rr)-len(skipOwner(rr))]
		if last == nil || !bytes.Equal(owner, last) {
			_, hidden = z.shadowed[string(owner)]
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

// sorted returns the distinct records of the version by (hash, bytes),
// numbered as record numbers them. A layered version's list is made
// anew (only a version computed whole, from a new base, asks for it).
func (z *zone) sorted() []hashed {
	if z.base == nil {
		return z.recs.byHash
	}
	hidden := make([]bool, z.base.len())
	z.eachBase(func(i int, shadowed bool) { hidden[i] = shadowed })
	n := uint32(z.base.len())
	out := make([]hashed, 0, len(z.base.byHash)+len(z.recs.byHash))
	a, b := z.base.byHash, z.recs.byHash
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
	return out
}

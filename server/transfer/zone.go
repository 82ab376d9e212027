package transfer

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// zone is one version of a transferable zone: its records as a client
// with no network context gets them, each packed uncompressed with its
// owner name, without the SOA, which is built for the version's serial.
// A version computed from a whole snapshot holds all of them in recs; a
// version derived from an earlier one (layered.go) is the anchor's
// records, base, but for the names in own, whose records it keeps itself.
type zone struct {
	origin string // lower-case FQDN
	wire   []byte // origin in wire format
	serial uint32
	soa    []byte // the SOA record with this serial, owner included
	hash   setHash
	recs   *records // nil when base is not
	// base, when not nil, holds the records of every name but those of
	// own (the shadowed names).
	base *records
	own  *ownNames
}

// records is a list of packed records, back to back in one arena in the
// order they were added (so the records of a name are together). byHash
// orders the distinct records by a hash of their bytes: the set the
// serial and the differences are computed on, with no string per record
// and no sort of the records themselves.
type records struct {
	arena  []byte
	ends   []uint32 // record i is arena[ends[i-1]:ends[i]]
	byHash []hashed // distinct records, by (hash, bytes)
	dup    []bool   // by record: a copy of an earlier one; nil when none
	sum    setHash  // of the distinct records
}

// hashed is a record's hash and number.
type hashed struct {
	h uint64
	i uint32
}

// record returns record i.
func (r *records) record(i uint32) []byte {
	start := uint32(0)
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.arena[start:r.ends[i]]
}

// len is the number of records, duplicates included.
func (r *records) len() int { return len(r.ends) }

// add appends a record: owner, then a packed record without its owner.
func (r *records) add(owner, rest []byte) {
	r.arena = append(append(r.arena, owner...), rest...)
	r.ends = append(r.ends, uint32(len(r.arena)))
}

// fnv64 is FNV-1a: stable across processes, for the state file's hash.
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// zoneSet is the zones a version is made of, the domain's first: their
// origins, and which of them a name is in.
type zoneSet struct {
	domain  string
	origins []string // FQDNs, lower case; [0] is the domain
	wires   [][]byte
}

func newZoneSet(domain string, reverse []string) *zoneSet {
	zs := &zoneSet{domain: domain, origins: append([]string{domain}, reverse...)}
	for _, o := range zs.origins {
		zs.wires = append(zs.wires, appendWireName(nil, o))
	}
	return zs
}

// of returns the zone a name key is in and appends its owner name in
// wire format to owner; z is -1 for a reverse name under no reverse zone.
func (zs *zoneSet) of(key string, owner []byte) (z int, _ []byte) {
	if !strings.HasSuffix(key, ".arpa") {
		return 0, appendWireName(owner, key+"."+zs.domain)
	}
	for i, r := range zs.origins[1:] {
		if key+"." == r || strings.HasSuffix(key, "."+strings.TrimSuffix(r, ".")) {
			return i + 1, appendWireName(owner, key+".")
		}
	}
	return -1, owner
}

// addName appends the records of name n at key to the zone it is in.
func (zs *zoneSet) addName(recs []*records, key string, n registry.Name, owner []byte) []byte {
	if !hasRecords(n) {
		return owner
	}
	z, owner := zs.of(key, owner[:0])
	if z >= 0 {
		recs[z].addName(owner, n)
	}
	return owner
}

// hasRecords reports whether a name has records in its default view.
func hasRecords(n registry.Name) bool {
	return len(n.Views()) > 0 && !n.Views()[0].Empty()
}

// addName appends the records of the default view of name n, owner its
// name in wire format.
func (r *records) addName(owner []byte, n registry.Name) {
	if !hasRecords(n) {
		return
	}
	v := &n.Views()[0]
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR} {
		if set := v.Set(t); set != nil {
			r.addSet(owner, set)
		}
	}
}

// addSet appends the records of set with owner.
func (r *records) addSet(owner []byte, set *registry.RRSet) {
	for i := 0; i < set.Len(); i++ {
		r.add(owner, set.Record(i)[2:]) // behind a pointer to the question: 0xC00C
	}
}

// addApex appends the apex records but the SOA to zone i's records: a
// reverse zone has the domain's nameservers at its apex.
func (zs *zoneSet) addApex(r *records, i int, snap *registry.Snapshot) {
	for _, set := range snap.Apex().Views()[0].Sets() {
		if set.Type != dns.TypeSOA {
			r.addSet(zs.wires[i], set)
		}
	}
}

// collect makes the records of the domain zone and of each reverse zone
// from a whole snapshot. prev, when not nil, are the last version's
// zones, whose sizes the new ones start with.
func (zs *zoneSet) collect(snap *registry.Snapshot, prev []*zone) []*records {
	recs := make([]*records, len(zs.origins))
	for i := range recs {
		recs[i] = &records{}
		if i < len(prev) && prev[i].origin == zs.origins[i] {
			n, size := prev[i].size()
			recs[i].arena = make([]byte, 0, size+size/16+1024)
			recs[i].ends = make([]uint32, 0, n+n/16+16)
		}
	}
	for i, r := range recs {
		zs.addApex(r, i, snap)
	}
	var owner []byte
	snap.Names(func(key string, n registry.Name) {
		owner = zs.addName(recs, key, n, owner)
	})
	for _, r := range recs {
		r.finish()
	}
	return recs
}

// finish hashes the records, orders the distinct ones, marks the
// copies, and sums the set.
func (r *records) finish() {
	r.byHash = make([]hashed, r.len())
	for i := range r.byHash {
		r.byHash[i] = hashed{h: fnv64(r.record(uint32(i))), i: uint32(i)}
	}
	// By hash alone: records whose 64-bit hashes are equal and bytes are
	// not are as good as never there, and diffOf still tells them apart.
	slices.SortFunc(r.byHash, func(a, b hashed) int { return cmp.Compare(a.h, b.h) })
	keep := 0
	for i, x := range r.byHash {
		if i > 0 && r.byHash[keep-1].h == x.h && bytes.Equal(r.record(r.byHash[keep-1].i), r.record(x.i)) {
			if r.dup == nil {
				r.dup = make([]bool, r.len())
			}
			r.dup[x.i] = true
			continue
		}
		r.byHash[keep] = x
		keep++
	}
	r.byHash = r.byHash[:keep]
	r.sum = setHash{}
	for _, x := range r.byHash {
		r.sum.add(x.h)
	}
}

func newZone(origin string) *zone {
	return &zone{origin: origin, wire: appendWireName(nil, origin)}
}

// setSOA packs the zone's SOA from the domain's, with the zone's own
// owner name and serial.
func (z *zone) setSOA(tmpl *dns.SOA) {
	soa := *tmpl
	soa.Hdr.Name = z.origin
	soa.Serial = z.serial
	buf := make([]byte, dns.Len(&soa)+16)
	n, _ := dns.PackRR(&soa, buf, 0, nil, false)
	z.soa = buf[:n]
}

// appendWireName appends the uncompressed wire form of an FQDN made of
// checked labels.
func appendWireName(b []byte, name string) []byte {
	name = strings.TrimSuffix(name, ".")
	for name != "" {
		label, rest, _ := strings.Cut(name, ".")
		b = append(b, byte(len(label)))
		b = append(b, label...)
		name = rest
	}
	return append(b, 0)
}

// ReverseZone returns the reverse zone of a prefix on an octet (IPv4) or
// nibble (IPv6) boundary: 10.0.0.0/8 is "10.in-addr.arpa.".
func ReverseZone(p netip.Prefix) (string, bool) {
	p = p.Masked()
	a := p.Addr()
	var b strings.Builder
	if a.Is4() {
		if p.Bits()%8 != 0 || p.Bits() == 0 {
			return "", false
		}
		v := a.As4()
		for i := p.Bits()/8 - 1; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(v[i])))
			b.WriteByte('.')
		}
		b.WriteString("in-addr.arpa.")
		return b.String(), true
	}
	if p.Bits()%4 != 0 || p.Bits() == 0 {
		return "", false
	}
	v := a.As16()
	const hex = "0123456789abcdef"
	for i := p.Bits()/4 - 1; i >= 0; i-- {
		nib := v[i/2] >> 4
		if i%2 == 1 {
			nib = v[i/2] & 0xF
		}
		b.WriteByte(hex[nib])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa.")
	return b.String(), true
}

// splitOwner returns the owner name of a packed record and the rest.
func splitOwner(rr string) (owner, rest string) {
	off := 0
	for off < len(rr) && rr[off] != 0 {
		off += 1 + int(rr[off])
	}
	return rr[:off+1], rr[off+1:]
}

// zoneFor returns the zone whose origin is name (wire-decoded, lower case).
func zoneFor(zones []*zone, name string) *zone {
	for _, z := range zones {
		if strings.EqualFold(z.origin, name) {
			return z
		}
	}
	return nil
}

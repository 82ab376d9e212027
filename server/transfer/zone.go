package transfer

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// zone is one version of a transferable zone: its records as a client
// with no network context gets them, each packed uncompressed with its
// owner name, back to back in one arena in the order the snapshot lists
// its names (so the records of a name are together), without the SOA,
// which is built for the version's serial. byHash orders the distinct
// records by a hash of their bytes: the set the serial and the
// differences are computed on, with no string per record and no sort of
// the records themselves.
type zone struct {
	origin string // lower-case FQDN
	wire   []byte // origin in wire format
	serial uint32
	soa    []byte // the SOA record with this serial, owner included
	arena  []byte
	ends   []uint32 // record i is arena[ends[i-1]:ends[i]]
	byHash []hashed // distinct records, by (hash, bytes)
	dup    []bool   // by record: a copy of an earlier one; nil when none
	hash   [sha256.Size]byte
}

// hashed is a record's hash and number.
type hashed struct {
	h uint64
	i uint32
}

// record returns record i.
func (z *zone) record(i uint32) []byte {
	start := uint32(0)
	if i > 0 {
		start = z.ends[i-1]
	}
	return z.arena[start:z.ends[i]]
}

// len is the number of records, duplicates included.
func (z *zone) len() int { return len(z.ends) }

// add appends a record: owner, then a packed record without its owner.
func (z *zone) add(owner, rest []byte) {
	z.arena = append(append(z.arena, owner...), rest...)
	z.ends = append(z.ends, uint32(len(z.arena)))
}

// fnv64 is FNV-1a: stable across processes, for the state file's hash.
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// collect builds the records of the domain zone and of each reverse
// zone from a snapshot; serials and SOAs are left for the caller.
// prev, when not nil, are the last version's zones, whose sizes the new
// ones start with.
func collect(snap *registry.Snapshot, reverse []string, prev []*zone) []*zone {
	fwd := newZone(snap.Domain)
	zones := []*zone{fwd}
	for _, r := range reverse {
		zones = append(zones, newZone(r))
	}
	for _, z := range zones {
		if old := zoneFor(prev, z.origin); old != nil {
			z.arena = make([]byte, 0, len(old.arena)+len(old.arena)/16+1024)
			z.ends = make([]uint32, 0, len(old.ends)+len(old.ends)/16+16)
		}
	}
	var owner []byte
	add := func(z *zone, owner []byte, set *registry.RRSet) {
		for i := 0; i < set.Len(); i++ {
			z.add(owner, set.Record(i)[2:]) // behind a pointer to the question: 0xC00C
		}
	}
	for _, set := range snap.Apex().Views()[0].Sets() {
		if set.Type == dns.TypeSOA {
			continue
		}
		// A reverse zone has the domain's nameservers at its apex.
		for _, z := range zones {
			add(z, z.wire, set)
		}
	}
	snap.Names(func(key string, n registry.Name) {
		v := &n.Views()[0]
		if v.Empty() {
			return
		}
		z := fwd
		if strings.HasSuffix(key, ".arpa") {
			z = nil
			for _, r := range zones[1:] {
				if key+"." == r.origin || strings.HasSuffix(key, "."+strings.TrimSuffix(r.origin, ".")) {
					z = r
					break
				}
			}
			if z == nil {
				return
			}
			owner = appendWireName(owner[:0], key+".")
		} else {
			owner = appendWireName(owner[:0], key+"."+snap.Domain)
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR} {
			if set := v.Set(t); set != nil {
				add(z, owner, set)
			}
		}
	})
	for _, z := range zones {
		z.finishRecords()
	}
	return zones
}

// finishRecords hashes the records, orders the distinct ones, marks the
// copies, and hashes the set.
func (z *zone) finishRecords() {
	z.byHash = make([]hashed, z.len())
	for i := range z.byHash {
		z.byHash[i] = hashed{h: fnv64(z.record(uint32(i))), i: uint32(i)}
	}
	// By hash alone: records whose 64-bit hashes are equal and bytes are
	// not are as good as never there, and diffOf still tells them apart.
	slices.SortFunc(z.byHash, func(a, b hashed) int { return cmp.Compare(a.h, b.h) })
	keep := 0
	for i, x := range z.byHash {
		if i > 0 && z.byHash[keep-1].h == x.h && bytes.Equal(z.record(z.byHash[keep-1].i), z.record(x.i)) {
			if z.dup == nil {
				z.dup = make([]bool, z.len())
			}
			z.dup[x.i] = true
			continue
		}
		z.byHash[keep] = x
		keep++
	}
	z.byHash = z.byHash[:keep]
	h := sha256.New()
	buf := make([]byte, 0, 8*1024)
	for _, x := range z.byHash {
		buf = binary.BigEndian.AppendUint64(buf, x.h)
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	h.Sum(z.hash[:0])
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

package transfer

import (
	"crypto/sha256"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// zone is one version of a transferable zone: its records as a client
// with no network context gets them, each packed uncompressed with its
// owner name, sorted (so the records of a name are together) and without
// the SOA, which is built for the version's serial.
type zone struct {
	origin  string // lower-case FQDN
	wire    []byte // origin in wire format
	serial  uint32
	soa     []byte   // the SOA record with this serial, owner included
	records []string // sorted, no duplicates
	hash    [sha256.Size]byte
	bytes   int // of records
}

// zoneSet is the content of every configured zone of one snapshot.
type zoneSet struct {
	zones []*zone // the --domain zone first, then the reverse zones
}

// collect builds the records of the domain zone and of each reverse
// zone from a snapshot; serials and SOAs are left for assign.
func collect(snap *registry.Snapshot, reverse []string) []*zone {
	fwd := newZone(snap.Domain)
	zones := []*zone{fwd}
	for _, r := range reverse {
		zones = append(zones, newZone(r))
	}
	var owner []byte
	add := func(z *zone, owner []byte, set *registry.RRSet) {
		for i := 0; i < set.Len(); i++ {
			rec := set.Record(i) // behind a pointer to the question: 0xC00C
			z.records = append(z.records, string(owner)+string(rec[2:]))
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
		for _, set := range v.Sets() {
			add(z, owner, set)
		}
	})
	for _, z := range zones {
		z.finishRecords()
	}
	return zones
}

// finishRecords sorts the records, drops duplicates, and hashes them.
func (z *zone) finishRecords() {
	slices.Sort(z.records)
	z.records = slices.Compact(z.records)
	h := sha256.New()
	z.bytes = 0
	for _, r := range z.records {
		h.Write([]byte{byte(len(r) >> 8), byte(len(r))})
		h.Write([]byte(r))
		z.bytes += len(r)
	}
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

package registry

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/scheduler"
)

// Nameserver is one name of the zone's NS set and the addresses it answers
// (a name under the domain needs at least one: the zone's own address
// records for it are its only glue).
type Nameserver struct {
	Name  string // FQDN, "ns1.swarm.internal."
	Addrs []netip.Addr
}

// The SOA timers of a swarmdns zone (docs/names.md, "Zone transfers"):
// NOTIFY carries every change at once, so refresh is only the fallback
// for a lost NOTIFY; a secondary keeps answering for a week without any
// primary, as long as a VIP stays valid.
const (
	soaRefresh = 300
	soaRetry   = 60
	soaExpire  = 7 * 24 * 3600
)

// checkNameservers normalizes the nameserver names and checks that those
// under the domain have an address.
func (c *Config) checkNameservers() error {
	seen := map[string]bool{}
	for i := range c.Nameservers {
		ns := &c.Nameservers[i]
		name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(ns.Name), "."))
		if err := checkName(name); err != nil || name == "" {
			return fmt.Errorf("nameserver %q: not a host name", ns.Name)
		}
		ns.Name = name + "."
		if seen[ns.Name] {
			return fmt.Errorf("nameserver %s given twice", ns.Name)
		}
		seen[ns.Name] = true
		if ns.Name == c.Domain {
			return fmt.Errorf("nameserver %s: the zone apex cannot be a nameserver name", ns.Name)
		}
		if strings.HasSuffix(ns.Name, "."+c.Domain) && len(ns.Addrs) == 0 {
			return fmt.Errorf("nameserver %s is in the zone and needs an address (NAME=IP)", ns.Name)
		}
		for j, a := range ns.Addrs {
			if !a.IsValid() {
				return fmt.Errorf("nameserver %s: invalid address", ns.Name)
			}
			ns.Addrs[j] = a.Unmap()
		}
	}
	return nil
}

// nameservers returns the NS set, ns.<domain> when none is configured.
func (c *Config) nameservers() []Nameserver {
	if len(c.Nameservers) == 0 {
		return []Nameserver{{Name: "ns." + c.Domain}}
	}
	return c.Nameservers
}

// nsName is a nameserver name under the domain, with its address records.
type nsName struct {
	key  string // relative to the zone
	a    int32  // sets, -1 for none
	aaaa int32
	view []View // filled by publish
}

// apexNameservers packs the NS set and the address sets of the
// nameserver names under the domain.
func (b *builder) apexNameservers() int32 {
	first := len(b.tab.recs)
	for _, ns := range b.cfg.nameservers() {
		rr := &dns.NS{Hdr: dns.RR_Header{Name: b.cfg.Domain, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: b.cfg.TTL}, Ns: ns.Name}
		off := len(b.tab.bytes)
		b.tab.bytes = append(b.tab.bytes, packOwnerless(rr)...)
		b.tab.recs = append(b.tab.recs, rec{off: uint32(off), n: uint16(len(b.tab.bytes) - off), weight: 1, info: infoNS})
	}
	set := b.finish(dns.TypeNS, b.cfg.TTL, first, scheduler.RoundRobin, 0, nil, -1, 0)
	b.nsNames = b.nsNames[:0]
	for _, ns := range b.cfg.nameservers() {
		key, ok := strings.CutSuffix(ns.Name, "."+b.cfg.Domain)
		if !ok || len(ns.Addrs) == 0 {
			continue
		}
		if i := b.collected.index.find([]byte(key), hashKey([]byte(key))); i >= 0 && b.collected.index.names[i].view != 0 {
			b.warnings = append(b.warnings, fmt.Errorf("nameserver %s: a service or alias has this name and answers it instead", ns.Name))
			continue
		}
		n := nsName{key: key, a: b.nsAddrSet(ns.Addrs, true), aaaa: b.nsAddrSet(ns.Addrs, false)}
		b.nsNames = append(b.nsNames, n)
	}
	return set
}

// nsAddrSet packs the IPv4 (or IPv6) addresses of addrs as one set, or
// returns -1 when there are none.
func (b *builder) nsAddrSet(addrs []netip.Addr, v4 bool) int32 {
	first := len(b.tab.recs)
	t := uint16(dns.TypeAAAA)
	if v4 {
		t = dns.TypeA
	}
	for _, a := range addrs {
		if a.Is4() != v4 {
			continue
		}
		off := len(b.tab.bytes)
		b.tab.bytes = packAddr(b.tab.bytes, b.cfg.TTL, a)
		b.tab.recs = append(b.tab.recs, rec{off: uint32(off), n: uint16(len(b.tab.bytes) - off), weight: 1, info: infoNS})
	}
	if len(b.tab.recs) == first {
		return -1
	}
	return b.finish(t, b.cfg.TTL, first, scheduler.RoundRobin, 0, nil, -1, 0)
}

// publishNameservers gives the nameserver names their views.
func (b *builder) publishNameservers(s *Snapshot, set func(int32) *RRSet) {
	s.nameservers = b.nsNames
	for i := range s.nameservers {
		n := &s.nameservers[i]
		n.view = []View{{A: set(n.a), AAAA: set(n.aaaa)}}
	}
}

// nameserver returns the nameserver name with this key.
func (s *Snapshot) nameserver(key []byte) (Name, bool) {
	for i := range s.nameservers {
		if n := &s.nameservers[i]; n.key == string(key) {
			return Name{views: n.view}, true
		}
	}
	return Name{}, false
}

// setSerial puts serial into the snapshot and its packed SOA records; the
// snapshot is not published yet.
func (s *Snapshot) setSerial(serial uint32) {
	s.Serial = serial
	putSOASerial(s.soa, skipWireName(s.soa, 0), serial)
	if v := s.apex; len(v) > 0 && v[0].zone != nil && v[0].zone.soa != nil {
		putSOASerial(v[0].zone.soa.Record(0), 2, serial)
	}
}

// putSOASerial writes serial into a packed SOA record whose owner name
// ends at off; its RDATA names are not compressed.
func putSOASerial(rr []byte, off int, serial uint32) {
	off += 10 // type, class, TTL, RDLENGTH
	off = skipWireName(rr, skipWireName(rr, off))
	if off < 0 || off+4 > len(rr) {
		return
	}
	rr[off], rr[off+1], rr[off+2], rr[off+3] = byte(serial>>24), byte(serial>>16), byte(serial>>8), byte(serial)
}

// skipWireName returns the offset after the name at off (a pointer ends
// it); -1 when malformed.
func skipWireName(b []byte, off int) int {
	for off >= 0 && off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			return off + 2
		}
		off += 1 + l
	}
	return -1
}

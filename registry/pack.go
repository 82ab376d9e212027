package registry

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Records are packed once, at build time. An answer record's owner is the
// question name, which always sits at offset 12 of a reply: a compression
// pointer 0xC00C stands for it, in the case the client used.

func rrHeader(b []byte, t uint16, ttl uint32, rdlen int) []byte {
	return append(b, byte(t>>8), byte(t), 0, 1, // class IN
		byte(ttl>>24), byte(ttl>>16), byte(ttl>>8), byte(ttl),
		byte(rdlen>>8), byte(rdlen))
}

var questionPtr = []byte{0xC0, 0x0C}

// packAddr appends an A or AAAA record for the question name to b.
func packAddr(b []byte, ttl uint32, a netip.Addr) []byte {
	if a.Is4() {
		b = rrHeader(append(b, questionPtr...), dns.TypeA, ttl, 4)
		v := a.As4()
		return append(b, v[:]...)
	}
	b = rrHeader(append(b, questionPtr...), dns.TypeAAAA, ttl, 16)
	v := a.As16()
	return append(b, v[:]...)
}

// packGlue appends an address record with the packed owner name to b.
func packGlue(b []byte, ttl uint32, owner []byte, a netip.Addr) []byte {
	b = append(b, owner...)
	if a.Is4() {
		b = rrHeader(b, dns.TypeA, ttl, 4)
		v := a.As4()
		return append(b, v[:]...)
	}
	b = rrHeader(b, dns.TypeAAAA, ttl, 16)
	v := a.As16()
	return append(b, v[:]...)
}

// packSRV appends an SRV record for the question name to b; target is
// packed already.
func packSRV(b []byte, ttl uint32, prio, weight, port uint16, target []byte) []byte {
	b = rrHeader(append(b, questionPtr...), dns.TypeSRV, ttl, 6+len(target))
	b = append(b, byte(prio>>8), byte(prio), byte(weight>>8), byte(weight), byte(port>>8), byte(port))
	return append(b, target...)
}

// packName appends the uncompressed wire form of an FQDN whose labels
// were checked by checkName.
func packName(b []byte, name string) []byte {
	name = strings.TrimSuffix(name, ".")
	for name != "" {
		label, rest, _ := strings.Cut(name, ".")
		b = append(b, byte(len(label)))
		b = append(b, label...)
		name = rest
	}
	return append(b, 0)
}

// packFull packs rr with its own owner name, uncompressed.
func packFull(rr dns.RR) ([]byte, error) {
	buf := make([]byte, dns.Len(rr)+32)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", rr.Header().Name, err)
	}
	return buf[:n], nil
}

// packOwnerless packs rr with the question pointer as its owner: packed
// under the root name, whose one zero byte the pointer replaces.
func packOwnerless(rr dns.RR) []byte {
	h := *rr.Header()
	rr.Header().Name = "."
	b, _ := packFull(rr)
	*rr.Header() = h
	if len(b) == 0 {
		return nil
	}
	return append(append([]byte{}, questionPtr...), b[1:]...)
}

// packPTR appends a PTR record, owner the question, pointing at target (a
// key, made absolute).
func packPTR(b []byte, ttl uint32, target []byte) []byte {
	off := len(b)
	b = rrHeader(append(b, questionPtr...), dns.TypePTR, ttl, 0)
	b = append(packLabels(b, target), 0)
	rdlen := len(b) - off - 12
	b[off+10], b[off+11] = byte(rdlen>>8), byte(rdlen)
	return b
}

// packLabels appends the labels of a dotted name (no trailing dot, not
// empty) in wire format, without the root label.
func packLabels(b []byte, name []byte) []byte {
	for len(name) > 0 {
		i := 0
		for i < len(name) && name[i] != '.' {
			i++
		}
		b = append(b, byte(i))
		b = append(b, name[:i]...)
		if i == len(name) {
			break
		}
		name = name[i+1:]
	}
	return b
}

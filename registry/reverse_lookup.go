package registry

import (
	"bytes"
	"net/netip"
)

// Reverse names, when they have their own index, are kept like task names
// (see lookup.go): an index by address finds them, and a question is
// parsed back into its address to look it up.

// lookupReverse finds a reverse name ("4.3.2.1.in-addr.arpa") by its
// address; ok is false when key is not one, or not of an address here.
func (s *Snapshot) lookupReverse(key []byte) (Name, bool) {
	a, ok := parseReverse(key)
	if !ok {
		return Name{}, false
	}
	ip := a.As16()
	v := s.reverse.find(&ip, hashIP(&ip))
	if v < 0 {
		return Name{}, false
	}
	return Name{views: s.views[v : v+1 : v+1]}, true
}

// parseReverse returns the address whose reverse name is key, in the one
// form appendReverse writes: decimal octets without leading zeros, or 32
// lower-case nibbles of an address that is not an IPv4 one.
func parseReverse(key []byte) (netip.Addr, bool) {
	var a netip.Addr
	switch {
	case bytes.HasSuffix(key, []byte(".in-addr.arpa")):
		var v [4]byte
		rest := key[:len(key)-len(".in-addr.arpa")]
		for i := 0; i < 4; i++ {
			n, digits := 0, 0
			for digits < len(rest) && rest[digits] != '.' {
				c := rest[digits]
				if c < '0' || c > '9' || digits == 3 || (digits > 0 && rest[0] == '0') {
					return a, false
				}
				n = 10*n + int(c-'0')
				digits++
			}
			if digits == 0 || n > 255 {
				return a, false
			}
			v[3-i] = byte(n)
			rest = rest[digits:]
			if i < 3 {
				if len(rest) == 0 {
					return a, false
				}
				rest = rest[1:] // the dot
			}
		}
		if len(rest) != 0 {
			return a, false
		}
		return netip.AddrFrom4(v), true
	case bytes.HasSuffix(key, []byte(".ip6.arpa")):
		rest := key[:len(key)-len(".ip6.arpa")]
		if len(rest) != 63 {
			return a, false
		}
		var v [16]byte
		for i := 0; i < 32; i++ {
			c := rest[2*i]
			if i < 31 && rest[2*i+1] != '.' {
				return a, false
			}
			var nib byte
			switch {
			case '0' <= c && c <= '9':
				nib = c - '0'
			case 'a' <= c && c <= 'f':
				nib = c - 'a' + 10
			default:
				return a, false
			}
			// Nibbles come lowest first: byte 15's low nibble, then its high.
			if i%2 == 0 {
				v[15-i/2] |= nib
			} else {
				v[15-i/2] |= nib << 4
			}
		}
		a = netip.AddrFrom16(v)
		// An IPv4 address in IPv6 is written as an IPv4 one.
		return a, !a.Is4In6()
	}
	return a, false
}

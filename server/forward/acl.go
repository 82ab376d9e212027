package forward

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultAllowRecursion lists the clients that may recurse when no list is
// configured: loopback and the private ranges Docker networks draw from.
var DefaultAllowRecursion = []string{
	"127.0.0.0/8",
	"::1/128",
	"10.0.0.0/8",
	"172.16.0.0/12",
	"192.168.0.0/16",
	"fc00::/7",
}

// ACL is the set of client networks allowed recursion. The zero ACL allows
// nobody.
type ACL struct {
	v4 []netip.Prefix
	v6 []netip.Prefix
}

// ParseACL parses CIDRs ("10.0.0.0/8") and bare addresses ("192.0.2.1",
// taken as a single host). An IPv4-mapped IPv6 prefix is read as the IPv4
// prefix it maps.
func ParseACL(cidrs []string) (ACL, error) {
	var a ACL
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		p, err := parsePrefix(s)
		if err != nil {
			return ACL{}, fmt.Errorf("%q is not an address or CIDR prefix; use e.g. 10.0.0.0/8, fd00::/8 or 192.0.2.1", s)
		}
		if p.Addr().Is4() {
			a.v4 = append(a.v4, p)
		} else {
			a.v6 = append(a.v6, p)
		}
	}
	return a, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zoned prefix not supported")
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Allows reports whether addr may use recursion. IPv4-mapped IPv6 addresses
// (a client on a dual-stack socket) are matched as IPv4. It does not allocate.
func (a ACL) Allows(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	list := a.v6
	if addr.Is4() {
		list = a.v4
	}
	for _, p := range list {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

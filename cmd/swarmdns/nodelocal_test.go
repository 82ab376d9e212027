package main

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"github.com/swarmdns/swarmdns/internal/netnstest"
)

// The stack's settings, --listen :53 with --node-local-address: the real
// swarmdns process, in a user and network namespace of the test's own,
// binds 169.254.53.53 to lo and answers a query sent there, from a client
// on 127.0.0.1, from 169.254.53.53 (the client's socket is connected to
// it and would drop an answer from any other address), over UDP and TCP;
// and it still answers at 127.0.0.1.
func TestWildcardListenServesTheNodeLocalAddressFromIt(t *testing.T) {
	if !netnstest.Isolated(t) {
		return
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "--listen", ":0", "--node-local-address", "169.254.53.53")
	bound, err := netip.ParseAddrPort(p.dnsAddr)
	if err != nil || !bound.Addr().IsUnspecified() {
		t.Fatalf("serving DNS on %q, want a wildcard address", p.dnsAddr)
	}
	for _, tt := range []struct{ name, netw, server string }{
		{"UDP at the node-local address", "udp", "169.254.53.53"},
		{"TCP at the node-local address", "tcp", "169.254.53.53"},
		{"UDP at loopback", "udp", "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion("web.swarm.internal.", dns.TypeA)
			c := &dns.Client{Net: tt.netw, Timeout: 2 * time.Second}
			if tt.netw == "udp" {
				c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}}
			}
			server := net.JoinHostPort(tt.server, strconv.Itoa(int(bound.Port())))
			r, _, err := c.Exchange(m, server)
			if err != nil {
				t.Fatalf("web.swarm.internal. at %s over %s: %v", server, tt.netw, err)
			}
			if len(r.Answer) != 1 {
				t.Fatalf("web.swarm.internal. at %s over %s: %v", server, tt.netw, r)
			}
		})
	}
}

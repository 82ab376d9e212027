package main

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
)

// inNetns is set in the test binary re-executed in a network namespace of
// its own (and a user namespace, so that no root is needed), where
// swarmdns may add its node-local address to lo.
const inNetns = "SWARMDNS_TEST_IN_NETNS"

// isolated runs the calling test again in a new user and network
// namespace, where it changes nothing of this machine's, and reports
// whether the caller is that run (and should do the work).
func isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv(inNetns) == "1" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), inNetns+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a network namespace of its own: %v\n%s", t.Name(), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in the network namespace:\n%s", t.Name(), out)
	}
	return false
}

// The stack's settings, --listen :53 with --node-local-address: the real
// swarmdns process, in a user and network namespace of the test's own,
// binds 169.254.53.53 to lo and answers a query sent there, from a client
// on 127.0.0.1, from 169.254.53.53 (the client's socket is connected to
// it and would drop an answer from any other address), over UDP and TCP;
// and it still answers at 127.0.0.1.
func TestWildcardListenServesTheNodeLocalAddressFromIt(t *testing.T) {
	if !isolated(t) {
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

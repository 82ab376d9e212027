package server

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/swarmdns/swarmdns/internal/netnstest"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server/forward"
)

// A read loop yields its P every few milliseconds while it is busy, and
// never right after waiting for a query.
func TestReadLoopYields(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		// at is the clock after each batch; want is whether the loop
		// yields after it.
		at   []time.Duration
		want []bool
	}{
		{"a busy loop yields every yieldEvery",
			[]time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms, 6 * ms, 7 * ms, 8 * ms, 9 * ms, 10 * ms, 11 * ms},
			[]bool{false, false, false, false, true, false, false, false, false, true, false}},
		{"a batch after a wait of yieldEvery or more never yields",
			[]time.Duration{20 * ms, 40 * ms, 45 * ms, 60 * ms},
			[]bool{false, false, false, false}},
		{"after a wait, the next batch that comes soon yields",
			[]time.Duration{20 * ms, 21 * ms, 22 * ms},
			[]bool{false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Duration
			y := yielder{elapsed: func() time.Duration { return now }}
			for i, at := range tt.at {
				now = at
				if got := y.due(); got != tt.want[i] {
					t.Errorf("batch %d at %v: yield %v, want %v", i+1, at, got, tt.want[i])
				}
			}
		})
	}
}

// addToLo brings lo up and adds addrs to it, each alone in its prefix.
func addToLo(t *testing.T, addrs ...netip.Addr) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		bits := a.BitLen()
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}, Flags: unix.IFA_F_NODAD}); err != nil {
			t.Fatalf("add %s to lo: %v", a, err)
		}
	}
}

// A wildcard listener answers a datagram from the address it was sent to.
// The client here asks a second address of lo (169.254.53.53, as the
// node-local address, or fd00:53::53) from loopback's own: the route back
// to the client would pick the loopback address as the source, and a
// client (a connected socket, a stub resolver) drops a reply from an
// address it did not ask. Answers from the zone leave from the read loop,
// forwarded ones (from a real DNS server upstream in the namespace) from
// the forwarding goroutine; both must. The test runs in a user and network
// namespace of its own.
func TestWildcardUDPListenerAnswersFromTheAddressAsked(t *testing.T) {
	if !netnstest.Isolated(t) {
		return
	}
	v4, v6 := netip.MustParseAddr("169.254.53.53"), netip.MustParseAddr("fd00:53::53")
	addToLo(t, v4, v6)
	up := startPlainUpstream(t, "127.0.0.1:0")
	f, err := forward.New(forward.Config{Upstreams: []string{up}, Timeout: time.Second, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	acl, err := forward.ParseACL(forward.DefaultAllowRecursion)
	if err != nil {
		t.Fatal(err)
	}
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	tests := []struct {
		name     string
		listen   string
		from, to netip.Addr
	}{
		{"IPv4 wildcard, asked at a second IPv4 address", "0.0.0.0:0", lo4, v4},
		{"IPv4 wildcard, asked at the loopback address", "0.0.0.0:0", lo4, lo4},
		{"dual-stack wildcard (:port), asked at a second IPv4 address", ":0", lo4, v4},
		{"dual-stack wildcard (:port), asked at a second IPv6 address", ":0", lo6, v6},
		{"IPv6 wildcard ([::]:port), asked at a second IPv4 address", "[::]:0", lo4, v4},
		{"IPv6 wildcard ([::]:port), asked at a second IPv6 address", "[::]:0", lo6, v6},
		{"IPv6 wildcard ([::]:port), asked at ::1", "[::]:0", lo6, lo6},
	}
	queries := []struct {
		name  string
		qname string
		want  string // the first answer's address
	}{
		{"a zone answer", "web.swarm.internal.", "10.0.1.2"},
		{"a forwarded answer", "one.test.", "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, example, Config{Forwarder: f, AllowRecursion: acl.Allows}, registry.Config{}, func(s *Server) {
				s.Addr, s.Readers = tt.listen, 2
			})
			server := netip.AddrPortFrom(tt.to, uint16(ts.srv.UDPAddr().(*net.UDPAddr).Port))
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(tt.from, 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, q := range queries {
				m := new(dns.Msg)
				m.SetQuestion(q.qname, dns.TypeA)
				msg, _ := m.Pack()
				if _, err := c.WriteToUDPAddrPort(msg, server); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				buf := make([]byte, 4096)
				n, src, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("%s: no reply to %s from %s: %v", q.name, server, tt.from, err)
				}
				if got := netip.AddrPortFrom(src.Addr().Unmap(), src.Port()); got != server {
					t.Errorf("%s: reply from %s, want from %s, the address asked", q.name, got, server)
				}
				r := new(dns.Msg)
				if err := r.Unpack(buf[:n]); err != nil || r.Id != m.Id || len(r.Answer) == 0 {
					t.Fatalf("%s: reply %v (%v), want an answer to ID %d", q.name, r, err, m.Id)
				}
				if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != q.want {
					t.Errorf("%s: answer %v, want %s", q.name, r.Answer[0], q.want)
				}
			}
		})
	}
}

// startPlainUpstream serves one.test A 10.0.0.1 with miekg/dns on addr
// (the test's own namespace has no dnsmasq to run), and returns its
// address.
func startPlainUpstream(t *testing.T, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("test.", func(w dns.ResponseWriter, q *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(q)
		if q.Question[0].Name == "one.test." && q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR("one.test. 300 IN A 10.0.0.1")
			r.Answer = append(r.Answer, rr)
		} else {
			r.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(r)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// A reply's source control message, read back as a datagram's
// destination, names the same address; control data that is empty, cut
// short or of another kind names none, and the reply leaves from the
// address the kernel picks.
func TestPacketInfoControlMessages(t *testing.T) {
	tests := []struct {
		name   string
		family int
		local  string
		want   string // read back; "" none
	}{
		{"an IPv4 destination on an IPv4 socket", unix.AF_INET, "169.254.53.53", "169.254.53.53"},
		{"an IPv6 destination on an IPv6 socket", unix.AF_INET6, "fd00:53::53", "fd00:53::53"},
		{"an IPv4 client's destination on a dual-stack socket", unix.AF_INET6, "::ffff:169.254.53.53", "::ffff:169.254.53.53"},
		{"an IPv6 address on an IPv4 socket is not sent", unix.AF_INET, "fd00:53::53", ""},
		{"a multicast destination is not answered from", unix.AF_INET6, "ff02::fb", ""},
		{"no destination", unix.AF_INET, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, _ := netip.ParseAddr(tt.local)
			var c ctlBuf
			n := putSource(&c, tt.family, local)
			got := localOf(&c, n)
			if want, _ := netip.ParseAddr(tt.want); got != want {
				t.Fatalf("put %s, read back %v (%d bytes), want %v", tt.local, got, n, want)
			}
		})
	}
	t.Run("a message longer than the data is ignored", func(t *testing.T) {
		var c ctlBuf
		n := putSource(&c, unix.AF_INET, netip.MustParseAddr("10.0.0.1"))
		if got := localOf(&c, n-8); got.IsValid() {
			t.Fatalf("read %v from a cut message", got)
		}
	})
}

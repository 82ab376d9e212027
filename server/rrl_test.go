package server

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

func TestRateLimitPerPrefix(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewRateLimit(5, 2)
	l.now = func() time.Time { return now }
	count := func(client string, n int) (sent, slip, drop int) {
		for i := 0; i < n; i++ {
			switch l.check(netip.MustParseAddr(client)) {
			case rrlSend:
				sent++
			case rrlSlip:
				slip++
			default:
				drop++
			}
		}
		return
	}
	tests := []struct {
		name                   string
		client                 string
		n                      int
		advance                time.Duration
		sent, slipped, dropped int
	}{
		{"within the rate every answer goes", "192.0.2.1", 5, 0, 5, 0, 0},
		{"past the rate every second answer slips", "192.0.2.9", 6, 0, 0, 3, 3},
		{"another /24 has its own budget", "198.51.100.1", 5, 0, 5, 0, 0},
		{"a second later the budget is back", "192.0.2.1", 5, time.Second + time.Millisecond, 5, 0, 0},
		{"half a second refills half", "192.0.2.1", 4, 500 * time.Millisecond, 2, 1, 1},
		{"IPv6 clients share a /56", "2001:db8:0:1::1", 5, 0, 5, 0, 0},
		{"the same /56 is limited", "2001:db8:0:2::1", 2, 0, 0, 1, 1},
	}
	for _, tc := range tests {
		now = now.Add(tc.advance)
		sent, slip, drop := count(tc.client, tc.n)
		if sent != tc.sent || slip != tc.slipped || drop != tc.dropped {
			t.Fatalf("%s: sent %d slipped %d dropped %d, want %d %d %d", tc.name, sent, slip, drop, tc.sent, tc.slipped, tc.dropped)
		}
	}
}

func TestRateLimitOffWithRateZero(t *testing.T) {
	if NewRateLimit(0, 2) != nil {
		t.Fatal("a zero rate should disable limiting")
	}
}

func TestSlippedReplyIsHeaderAndQuestionWithTC(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("web.swarm.internal.", dns.TypeA)
	m.SetEdns0(1232, false)
	q, _ := m.Pack()
	h := fuzzHandler(t)
	sc := newScratch()
	out, _ := h.answer(q, netip.MustParseAddr("127.0.0.1"), false, sc)
	r := new(dns.Msg)
	if err := r.Unpack(slipped(out, sc.q.qend)); err != nil {
		t.Fatal(err)
	}
	if !r.Truncated || len(r.Answer)+len(r.Ns)+len(r.Extra) != 0 || len(r.Question) != 1 || r.Id != m.Id {
		t.Fatalf("slipped reply %v", r)
	}
}

// Over real UDP, a client flooding a zone name gets at most the rate plus
// the slipped replies, and the slipped ones are empty with TC.
func TestRateLimitedServerDoesNotAmplify(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{}, func(s *Server) { s.RateLimit = NewRateLimit(10, 2) })
	conn, err := net.Dial("udp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion("tasks.web.swarm.internal.", dns.TypeA)
	q, _ := m.Pack()
	const sent = 100
	for i := 0; i < sent; i++ {
		conn.Write(q)
	}
	full, slips := 0, 0
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if r.Truncated {
			if len(r.Answer) != 0 || n > len(q) {
				t.Fatalf("a slipped reply of %d bytes with %d answers is larger than the query", n, len(r.Answer))
			}
			slips++
		} else {
			full++
		}
	}
	// The test may span a second boundary: allow one refill.
	if full < 10 || full > 20 || slips < 30 || slips > 50 {
		t.Fatalf("%d full answers and %d slips for %d queries", full, slips, sent)
	}
}

package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// answerFunc builds a fake upstream's reply; nil means stay silent.
type answerFunc func(q *dns.Msg, tcp bool) *dns.Msg

// fakeUpstream is an in-process DNS server on a random 127.0.0.1 port,
// UDP and TCP, that records what it was asked.
type fakeUpstream struct {
	addr     netip.AddrPort
	answer   answerFunc
	udp, tcp atomic.Int32
	mu       sync.Mutex
	seen     []*dns.Msg
}

func startUpstream(t testing.TB, answer answerFunc) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{answer: answer}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			u.addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
			break
		}
		pc.Close()
		if i == 20 {
			t.Fatalf("no free UDP+TCP port pair: %v", err)
		}
	}
	handler := dns.HandlerFunc(u.serve)
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return u
}

func (u *fakeUpstream) serve(w dns.ResponseWriter, q *dns.Msg) {
	tcp := w.LocalAddr().Network() == "tcp"
	if tcp {
		u.tcp.Add(1)
	} else {
		u.udp.Add(1)
	}
	u.mu.Lock()
	u.seen = append(u.seen, q.Copy())
	u.mu.Unlock()
	m := u.answer(q, tcp)
	if m == nil {
		return
	}
	size := dns.MinMsgSize
	if opt := q.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		if m.IsEdns0() == nil {
			m.SetEdns0(4096, opt.Do())
		}
	}
	if !tcp {
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func (u *fakeUpstream) queries() int { return int(u.udp.Load() + u.tcp.Load()) }

func (u *fakeUpstream) last() *dns.Msg {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

func rrA(name string, ttl uint32, ip string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)}
}

func soa(zone string, ttl, minttl uint32) dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns: "ns." + zone, Mbox: "admin." + zone, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: minttl}
}

// answerA answers every query with n A records of the given TTL.
func answerA(ttl uint32, n int) answerFunc {
	return func(q *dns.Msg, _ bool) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		m.RecursionAvailable = true
		for i := range n {
			m.Answer = append(m.Answer, rrA(q.Question[0].Name, ttl, fmt.Sprintf("192.0.2.%d", i+1)))
		}
		return m
	}
}

func answerRcode(rcode int) answerFunc {
	return func(q *dns.Msg, _ bool) *dns.Msg { return new(dns.Msg).SetRcode(q, rcode) }
}

func silent(*dns.Msg, bool) *dns.Msg { return nil }

// deadAddr is a loopback UDP and TCP port nothing listens on.
func deadAddr(t testing.TB) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return ap
}

func query(name string, qtype uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(name, qtype)
}

func nullLogger() *logrus.Entry {
	l, _ := test.NewNullLogger()
	return logrus.NewEntry(l)
}

// newForwarder builds a Forwarder over the given upstream addresses.
func newForwarder(t testing.TB, cfg Config, addrs ...netip.AddrPort) *Forwarder {
	t.Helper()
	for _, a := range addrs {
		cfg.Upstreams = append(cfg.Upstreams, a.String())
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 300 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = nullLogger()
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFailover(t *testing.T) {
	wrongQuestion := func(q *dns.Msg, tcp bool) *dns.Msg {
		m := answerA(60, 1)(q, tcp)
		m.Question[0].Name = "other.example."
		return m
	}
	tests := []struct {
		name      string
		behaviour []answerFunc // nil entry: a dead port
		wantRcode int
		wantErr   bool
		wantAsked []int // queries each upstream received
	}{
		{"first upstream healthy: later ones are never asked", []answerFunc{answerA(60, 1), answerA(60, 1)}, dns.RcodeSuccess, false, []int{1, 0}},
		{"timeout fails over to the next upstream", []answerFunc{silent, answerA(60, 1)}, dns.RcodeSuccess, false, []int{1, 1}},
		{"SERVFAIL fails over to the next upstream", []answerFunc{answerRcode(dns.RcodeServerFailure), answerA(60, 1)}, dns.RcodeSuccess, false, []int{1, 1}},
		{"REFUSED fails over to the next upstream", []answerFunc{answerRcode(dns.RcodeRefused), answerA(60, 1)}, dns.RcodeSuccess, false, []int{1, 1}},
		{"closed port fails over to the next upstream", []answerFunc{nil, answerA(60, 1)}, dns.RcodeSuccess, false, []int{0, 1}},
		{"reply for another question fails over", []answerFunc{wrongQuestion, answerA(60, 1)}, dns.RcodeSuccess, false, []int{1, 1}},
		{"NXDOMAIN is an answer, not a failure", []answerFunc{answerRcode(dns.RcodeNameError), answerA(60, 1)}, dns.RcodeNameError, false, []int{1, 0}},
		{"every upstream failing is an error", []answerFunc{answerRcode(dns.RcodeServerFailure), silent, answerRcode(dns.RcodeRefused), nil}, 0, true, []int{1, 1, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ups []*fakeUpstream
			var addrs []netip.AddrPort
			for _, b := range tt.behaviour {
				if b == nil {
					ups = append(ups, nil)
					addrs = append(addrs, deadAddr(t))
					continue
				}
				u := startUpstream(t, b)
				ups = append(ups, u)
				addrs = append(addrs, u.addr)
			}
			f := newForwarder(t, Config{Timeout: 200 * time.Millisecond}, addrs...)
			start := time.Now()
			m, err := f.Exchange(t.Context(), query("failover.example.", dns.TypeA), false)
			elapsed := time.Since(start)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Exchange error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && m.Rcode != tt.wantRcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			for i, u := range ups {
				if u != nil && u.queries() != tt.wantAsked[i] {
					t.Errorf("upstream %d asked %d times, want %d", i, u.queries(), tt.wantAsked[i])
				}
			}
			// One silent upstream costs one timeout, not more.
			if elapsed > time.Second {
				t.Errorf("took %s", elapsed)
			}
		})
	}
}

func TestTransport(t *testing.T) {
	// tcOverUDP truncates every UDP answer, as a server does when the answer
	// exceeds even the client's EDNS size.
	tcOverUDP := func(q *dns.Msg, tcp bool) *dns.Msg {
		m := answerA(60, 40)(q, tcp)
		if !tcp {
			m.Answer = m.Answer[:1]
			m.Truncated = true
		}
		return m
	}
	tests := []struct {
		name             string
		answer           answerFunc
		clientTCP        bool
		clientSize       uint16 // 0: no EDNS
		wantUDP, wantTCP int32
		wantAnswers      int
		wantTC           bool
	}{
		{"UDP client is forwarded over UDP", answerA(60, 1), false, 0, 1, 0, 1, false},
		{"TCP client is forwarded over TCP", answerA(60, 1), true, 0, 0, 1, 1, false},
		{"truncated upstream answer is retried over TCP", tcOverUDP, false, 4096, 1, 1, 40, false},
		{"answer over 512 bytes reaches a TCP client whole", answerA(60, 40), true, 0, 0, 1, 40, false},
		{"answer over the client's UDP size is truncated for it", answerA(60, 40), false, 0, 1, 1, 29, true},
		{"EDNS client gets what fits its advertised size", answerA(60, 40), false, 1232, 1, 0, 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t, tt.answer)
			f := newForwarder(t, Config{}, u.addr)
			q := query("transport.example.", dns.TypeA)
			if tt.clientSize != 0 {
				q.SetEdns0(tt.clientSize, false)
			}
			m, err := f.Exchange(t.Context(), q, tt.clientTCP)
			if err != nil {
				t.Fatal(err)
			}
			if u.udp.Load() != tt.wantUDP || u.tcp.Load() != tt.wantTCP {
				t.Errorf("upstream saw %d UDP and %d TCP queries, want %d and %d", u.udp.Load(), u.tcp.Load(), tt.wantUDP, tt.wantTCP)
			}
			if len(m.Answer) != tt.wantAnswers || m.Truncated != tt.wantTC {
				t.Errorf("reply has %d answers, TC=%v; want %d, TC=%v", len(m.Answer), m.Truncated, tt.wantAnswers, tt.wantTC)
			}
			packed, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if !tt.clientTCP && len(packed) > max(int(tt.clientSize), dns.MinMsgSize) {
				t.Errorf("UDP reply is %d bytes, over the client's size", len(packed))
			}
		})
	}
}

func TestFailedUpstreamErrorNamesEveryUpstream(t *testing.T) {
	a := startUpstream(t, answerRcode(dns.RcodeServerFailure))
	b := startUpstream(t, answerRcode(dns.RcodeRefused))
	f := newForwarder(t, Config{}, a.addr, b.addr)
	_, err := f.Exchange(context.Background(), query("x.example.", dns.TypeA), false)
	var rc rcodeError
	if !errors.As(err, &rc) {
		t.Fatalf("error %v does not carry the upstream rcode", err)
	}
	for _, want := range []string{a.addr.String(), b.addr.String(), "SERVFAIL", "REFUSED"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestUpstreamHealth: an upstream that timed out is tried after the others
// while it is down, so a dead first upstream costs one timeout, not one
// per query; it is tried first again once its down time is over, and a
// reply ends it.
func TestUpstreamHealth(t *testing.T) {
	type step struct {
		advance   time.Duration // the forwarder's clock moves on first
		wantErr   bool
		wantAsked []int // queries each upstream received so far
		fast      bool  // no upstream timed out in this step
	}
	var flakyUp atomic.Bool
	flaky := func(q *dns.Msg, tcp bool) *dns.Msg {
		if !flakyUp.Load() {
			return nil
		}
		return answerA(60, 1)(q, tcp)
	}
	tests := []struct {
		name      string
		behaviour []answerFunc
		before    func(step int) // runs before each step
		steps     []step
	}{
		{"a silent first upstream is tried last while down, first again after", []answerFunc{silent, answerA(60, 1)}, nil, []step{
			{0, false, []int{1, 1}, false},
			{0, false, []int{1, 2}, true},
			{500 * time.Millisecond, false, []int{1, 3}, true},
			{600 * time.Millisecond, false, []int{2, 4}, false},
			// Down again, for twice as long.
			{1500 * time.Millisecond, false, []int{2, 5}, true},
			{600 * time.Millisecond, false, []int{3, 6}, false},
		}},
		{"every upstream down: all are still tried", []answerFunc{silent, silent}, nil, []step{
			{0, true, []int{1, 1}, false},
			{0, true, []int{2, 2}, false},
		}},
		{"a reply ends its down time", []answerFunc{flaky, answerA(60, 1)}, func(step int) { flakyUp.Store(step >= 1) }, []step{
			{0, false, []int{1, 1}, false},
			{1100 * time.Millisecond, false, []int{2, 1}, true},
			{0, false, []int{3, 1}, true},
		}},
		{"a down upstream that replies is up again at once", []answerFunc{silent, flaky}, func(step int) { flakyUp.Store(step >= 1) }, []step{
			{0, true, []int{1, 1}, false},
			{0, false, []int{2, 2}, false},
			{0, false, []int{2, 3}, true},
		}},
		{"SERVFAIL and REFUSED are replies: the upstream stays first", []answerFunc{answerRcode(dns.RcodeServerFailure), answerRcode(dns.RcodeRefused), answerA(60, 1)}, nil, []step{
			{0, false, []int{1, 1, 1}, true},
			{0, false, []int{2, 2, 2}, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ups []*fakeUpstream
			var addrs []netip.AddrPort
			for _, b := range tt.behaviour {
				u := startUpstream(t, b)
				ups = append(ups, u)
				addrs = append(addrs, u.addr)
			}
			f := newForwarder(t, Config{Timeout: 200 * time.Millisecond}, addrs...)
			var mu sync.Mutex
			clock := time.Unix(1_800_000_000, 0)
			f.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			for n, s := range tt.steps {
				mu.Lock()
				clock = clock.Add(s.advance)
				mu.Unlock()
				if tt.before != nil {
					tt.before(n)
				}
				start := time.Now()
				_, err := f.Exchange(t.Context(), query(fmt.Sprintf("q%d.health.example.", n), dns.TypeA), false)
				elapsed := time.Since(start)
				if (err != nil) != s.wantErr {
					t.Fatalf("step %d: error %v, want error %v", n, err, s.wantErr)
				}
				for i, u := range ups {
					if u.queries() != s.wantAsked[i] {
						t.Errorf("step %d: upstream %d asked %d times, want %d", n, i, u.queries(), s.wantAsked[i])
					}
				}
				if s.fast && elapsed >= 150*time.Millisecond {
					t.Errorf("step %d took %s: a down upstream was waited for", n, elapsed)
				}
			}
		})
	}
}

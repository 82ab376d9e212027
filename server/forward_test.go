package server

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server/forward"
	"github.com/swarmdns/swarmdns/server/forward/dnsmasqtest"
)

// These tests drive the real server with the real forwarder in front of a
// real dnsmasq upstream (Debian's), over loopback.

func startForwarding(t *testing.T, upstreams []string, allow []string) *testServer {
	t.Helper()
	f, err := forward.New(forward.Config{Upstreams: upstreams, Timeout: 300 * time.Millisecond, CacheSize: 1000, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	acl, err := forward.ParseACL(allow)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, example, Config{Forwarder: f, AllowRecursion: acl.Allows}, registry.Config{})
}

// exchangeFrom queries the server from a given loopback source address.
func exchangeFrom(t *testing.T, src, server string, name string, qtype uint16, netw string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: netw, Timeout: 3 * time.Second}
	if netw == "tcp" {
		c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	} else {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}
	}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s from %s: %v", name, src, err)
	}
	return r
}

func TestForwardsNamesOutsideTheRegistryToDnsmasq(t *testing.T) {
	up := dnsmasqtest.Start(t)
	ts := startForwarding(t, []string{up.Addr.String()}, forward.DefaultAllowRecursion)
	tests := []struct {
		name  string
		qname string
		rcode int
		want  []string
	}{
		{"an outside name resolves upstream", "one.test.", dns.RcodeSuccess, []string{"10.0.0.1"}},
		{"an unknown outside name is the upstream's NXDOMAIN", "nosuch.test.", dns.RcodeNameError, nil},
		{"a zone name is still ours", "web.swarm.internal.", dns.RcodeSuccess, []string{"10.0.1.2"}},
		{"an unknown zone name is our NXDOMAIN, never forwarded", "two.swarm.internal.", dns.RcodeNameError, nil},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				r := exchangeFrom(t, "127.0.0.1", ts.addr, tc.qname, dns.TypeA, netw)
				if r.Rcode != tc.rcode || !slices.Equal(rdata(r.Answer), tc.want) {
					t.Fatalf("%s: %v", dns.RcodeToString[r.Rcode], rdata(r.Answer))
				}
				if !r.RecursionAvailable {
					t.Fatal("RA clear for a client that may recurse")
				}
			})
		}
	}
	if n := up.Queries(t, dns.TypeA, "two.swarm.internal."); n != 0 {
		t.Fatalf("a zone name reached the upstream %d times", n)
	}
}

func TestBareUnknownNamesAreForwardedAsDockerDoes(t *testing.T) {
	up := dnsmasqtest.Start(t)
	ts := startForwarding(t, []string{up.Addr.String()}, forward.DefaultAllowRecursion)
	for _, name := range []string{"nosuch.", "tasks.nosuch."} {
		exchangeFrom(t, "127.0.0.1", ts.addr, name, dns.TypeA, "udp")
		if n := up.Queries(t, dns.TypeA, name); n != 1 {
			t.Fatalf("%s reached the upstream %d times, want 1", name, n)
		}
	}
}

func TestASecondIdenticalQueryIsServedFromTheCache(t *testing.T) {
	up := dnsmasqtest.Start(t)
	ts := startForwarding(t, []string{up.Addr.String()}, forward.DefaultAllowRecursion)
	exchangeFrom(t, "127.0.0.1", ts.addr, "two.test.", dns.TypeA, "udp")
	exchangeFrom(t, "127.0.0.1", ts.addr, "TWO.test.", dns.TypeA, "udp")
	if n := up.Queries(t, dns.TypeA, "two.test."); n != 1 {
		t.Fatalf("upstream saw %d queries, want 1", n)
	}
}

func TestADeadFirstUpstreamFailsOverToTheSecond(t *testing.T) {
	up := dnsmasqtest.Start(t)
	// A bound UDP socket that never answers: the first upstream times out.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	ts := startForwarding(t, []string{dead.LocalAddr().String(), up.Addr.String()}, forward.DefaultAllowRecursion)
	start := time.Now()
	r := exchangeFrom(t, "127.0.0.1", ts.addr, "one.test.", dns.TypeA, "udp")
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("%s %v", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("failover took %s, more than the timeout allows", took)
	}
}

func TestATruncatedUpstreamAnswerIsCompletedOverTCP(t *testing.T) {
	up := dnsmasqtest.Start(t)
	ts := startForwarding(t, []string{up.Addr.String()}, forward.DefaultAllowRecursion)
	r := exchangeFrom(t, "127.0.0.1", ts.addr, "many.test.", dns.TypeA, "tcp")
	if len(r.Answer) != dnsmasqtest.ManyRecords || r.Truncated {
		t.Fatalf("%d records, TC=%v", len(r.Answer), r.Truncated)
	}
}

// A client outside --allow-recursion is refused names outside the zone and
// still answered for zone names; RA tells it which.
func TestClientsOutsideAllowRecursionAreNotAnOpenResolver(t *testing.T) {
	up := dnsmasqtest.Start(t)
	ts := startForwarding(t, []string{up.Addr.String()}, []string{"127.0.0.1/32"})
	tests := []struct {
		name  string
		src   string
		qname string
		rcode int
		ra    bool
	}{
		{"allowed client gets outside names", "127.0.0.1", "two.test.", dns.RcodeSuccess, true},
		{"other client is refused outside names", "127.0.0.2", "two.test.", dns.RcodeRefused, false},
		{"other client is refused bare unknown names", "127.0.0.2", "nosuch.", dns.RcodeRefused, false},
		{"other client still gets zone names", "127.0.0.2", "tasks.web.swarm.internal.", dns.RcodeSuccess, false},
		{"other client still gets bare service names", "127.0.0.2", "web.", dns.RcodeSuccess, false},
		{"allowed client gets zone names with RA", "127.0.0.1", "web.", dns.RcodeSuccess, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := exchangeFrom(t, tc.src, ts.addr, tc.qname, dns.TypeA, "udp")
			if r.Rcode != tc.rcode || r.RecursionAvailable != tc.ra {
				t.Fatalf("%s RA=%v, want %s RA=%v", dns.RcodeToString[r.Rcode], r.RecursionAvailable, dns.RcodeToString[tc.rcode], tc.ra)
			}
		})
	}
	if n := up.Queries(t, dns.TypeA, "two.test."); n != 1 {
		t.Fatalf("upstream saw %d queries for two.test, want 1 (the allowed client's)", n)
	}
}

// heldUpstream is a UDP resolver on loopback that answers every A query
// with 192.0.2.1, but only once release is closed; seen counts the queries
// per name.
type heldUpstream struct {
	addr    string
	release chan struct{}
	mu      sync.Mutex
	seen    map[string]int
}

func startHeldUpstream(t *testing.T) *heldUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &heldUpstream{addr: pc.LocalAddr().String(), release: make(chan struct{}), seen: map[string]int{}}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		u.mu.Lock()
		u.seen[q.Question[0].Name]++
		u.mu.Unlock()
		<-u.release
		r := new(dns.Msg).SetReply(q)
		r.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		w.WriteMsg(r)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() {
		select {
		case <-u.release:
		default:
			close(u.release)
		}
		srv.Shutdown()
	})
	return u
}

func (u *heldUpstream) queries(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[name]
}

// --max-inflight bounds upstream exchanges, not queries: with a limit of
// 1 and one exchange under way, identical queries join it and are all
// answered by it, while a distinct query gets SERVFAIL at once.
func TestMaxInflightCountsUpstreamExchangesNotCoalescedQueries(t *testing.T) {
	const identical = 20
	up := startHeldUpstream(t)
	f, err := forward.New(forward.Config{Upstreams: []string{up.addr}, Timeout: 5 * time.Second, CacheSize: 100, MaxInflight: 1, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, example, Config{Forwarder: f}, registry.Config{})
	conn, err := net.Dial("udp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(id uint16, name string) {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Id = id
		b, _ := m.Pack()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	replies := map[uint16]*dns.Msg{}
	readUntil := func(done func() bool) {
		buf := make([]byte, 512)
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		for !done() {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("replies so far %d: %v", len(replies), err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			replies[r.Id] = r
		}
	}

	// The first query takes the one slot and waits at the upstream.
	send(1, "same.test.")
	for deadline := time.Now().Add(3 * time.Second); up.queries("same.test.") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first query never reached the upstream")
		}
	}
	for id := uint16(2); id <= identical; id++ {
		send(id, "same.test.")
	}
	const distinct = identical + 1
	send(distinct, "other.test.")
	readUntil(func() bool { return replies[distinct] != nil })
	if r := replies[distinct]; r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("distinct query past the limit: %s, want SERVFAIL at once", dns.RcodeToString[r.Rcode])
	}
	close(up.release)
	readUntil(func() bool { return len(replies) == distinct })
	for id := uint16(1); id <= identical; id++ {
		if r := replies[id]; r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("identical query %d: %s with %d answers, want NOERROR with 1", id, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
	if n := up.queries("same.test."); n != 1 {
		t.Errorf("upstream saw same.test. %d times, want once", n)
	}
	if n := up.queries("other.test."); n != 0 {
		t.Errorf("upstream saw other.test. %d times, want never", n)
	}
}

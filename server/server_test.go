package server

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
)

// These tests drive the real server over loopback UDP and TCP sockets with
// a miekg/dns client, serving a registry file through the file source.

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

type testServer struct {
	addr  string
	store *registry.Store
	srv   *Server
}

// startServer serves the registry file at path; cfg may set Forwarder and
// AllowRecursion, opts the server's limits.
func startServer(t testing.TB, path string, cfg Config, rc registry.Config, opts ...func(*Server)) *testServer {
	t.Helper()
	if rc.Domain == "" {
		rc.Domain = "swarm.internal."
	}
	if rc.TTL == 0 {
		rc.TTL = 5
	}
	store, err := registry.NewStore(rc, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if path != "" {
		src := file.NewSource(path, quietLog())
		src.Debounce = 10 * time.Millisecond
		go src.Run(ctx, store)
		deadline := time.Now().Add(5 * time.Second)
		for store.Snapshot() == nil {
			if time.Now().After(deadline) {
				t.Fatal("registry never loaded")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cfg.Store, cfg.Log = store, quietLog()
	srv := &Server{Handler: NewHandler(cfg), Addr: "127.0.0.1:0", Log: quietLog()}
	for _, o := range opts {
		o(srv)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		srv.Shutdown(ctx)
	})
	return &testServer{addr: srv.UDPAddr().String(), store: store, srv: srv}
}

func (ts *testServer) query(t *testing.T, netw, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: netw, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, ts.addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], netw, err)
	}
	return r
}

func rdata(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	return out
}

func sorted(s []string) []string { slices.Sort(s); return s }

const example = "../examples/registry.yaml"

func TestZoneAnswersOverUDPAndTCP(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	tests := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		want  []string // sorted answer data
		soa   bool     // SOA in authority
	}{
		{"service name answers the VIP", "web.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.1.2"}, false},
		{"the same name under the domain", "web.swarm.internal.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.1.2"}, false},
		{"tasks prefix answers running tasks", "tasks.web.swarm.internal.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.1.11", "10.0.1.12", "10.0.1.13"}, false},
		{"AAAA of tasks", "tasks.web.", dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00:1::11", "fd00:1::12"}, false},
		{"dnsrr service answers tasks", "api.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.1.21", "10.0.1.22"}, false},
		{"network suffix", "db.backnet.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.2.3"}, false},
		{"tasks with network suffix", "tasks.db.backnet.swarm.internal.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.2.31"}, false},
		{"alias", "shop-db.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.1.3"}, false},
		{"tasks of an alias", "tasks.primary.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.2.31"}, false},
		{"task name", "web.1.webtask1.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.1.11"}, false},
		{"global task name", "agent.node-a.agenttask1.swarm.internal.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.2.41"}, false},
		{"slot name", "2.web.", dns.TypeA, dns.RcodeSuccess, []string{"10.0.1.12"}, false},
		{"SRV of a named port", "_http._tcp.web.", dns.TypeSRV, dns.RcodeSuccess, []string{
			"0 1 80 web.1.webtask1.swarm.internal.", "0 3 80 web.2.webtask2.swarm.internal.", "0 3 80 web.3.webtask3.swarm.internal."}, false},
		{"PTR of a task IP", "11.1.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"web.1.webtask1.appnet."}, false},
		{"PTR of a VIP", "3.2.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"db.backnet."}, false},
		{"SOA at the apex", "swarm.internal.", dns.TypeSOA, dns.RcodeSuccess, []string{"ns.swarm.internal. hostmaster.swarm.internal."}, false},
		{"NS at the apex", "swarm.internal.", dns.TypeNS, dns.RcodeSuccess, []string{"ns.swarm.internal."}, false},
		{"ANY gets the RFC 8482 answer", "web.", dns.TypeANY, dns.RcodeSuccess, []string{"\"RFC8482\" \"\""}, false},
		{"unknown name in the zone is NXDOMAIN", "nosuch.swarm.internal.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"unknown tasks name in the zone is NXDOMAIN", "tasks.nosuch.swarm.internal.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"known name without the type is NODATA", "web.", dns.TypeAAAA, dns.RcodeSuccess, nil, true},
		{"TXT of a service is NODATA", "web.swarm.internal.", dns.TypeTXT, dns.RcodeSuccess, nil, true},
		{"empty non-terminal is NODATA", "_tcp.web.swarm.internal.", dns.TypeSRV, dns.RcodeSuccess, nil, true},
		{"A at the apex is NODATA", "swarm.internal.", dns.TypeA, dns.RcodeSuccess, nil, true},
		{"a starting task is not published", "4.web.swarm.internal.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"reverse name under the zone is not a PTR", "11.1.0.10.in-addr.arpa.swarm.internal.", dns.TypePTR, dns.RcodeNameError, nil, true},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				r := ts.query(t, netw, tc.qname, tc.qtype, 1232)
				if r.Rcode != tc.rcode {
					t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
				if !r.Authoritative {
					t.Error("AA not set")
				}
				got := rdata(r.Answer)
				if tc.qtype == dns.TypeSOA && len(got) == 1 {
					f := strings.Fields(got[0])
					got = []string{f[0] + " " + f[1]}
				}
				if !slices.Equal(sorted(got), tc.want) {
					t.Fatalf("answer %q, want %q", got, tc.want)
				}
				for _, rr := range r.Answer {
					if rr.Header().Name != tc.qname {
						t.Errorf("owner %q, want %q", rr.Header().Name, tc.qname)
					}
				}
				hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
				if hasSOA != tc.soa {
					t.Fatalf("authority %v, want SOA: %v", r.Ns, tc.soa)
				}
				if r.IsEdns0() == nil {
					t.Error("no OPT in the reply to an EDNS query")
				}
			})
		}
	}
}

func TestSRVAnswerCarriesGlue(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	r := ts.query(t, "udp", "_http._tcp.web.swarm.internal.", dns.TypeSRV, 1232)
	glue := map[string][]string{}
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		glue[rr.Header().Name] = append(glue[rr.Header().Name], rdata([]dns.RR{rr})[0])
	}
	if got := sorted(glue["web.1.webtask1.swarm.internal."]); !slices.Equal(got, []string{"10.0.1.11", "fd00:1::11"}) {
		t.Fatalf("glue for webtask1: %v (all: %v)", got, glue)
	}
	if len(glue) != 3 {
		t.Fatalf("glue for %d targets, want 3", len(glue))
	}
}

func TestNamesAreCaseInsensitiveAndTheQuestionCaseIsKept(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	for _, name := range []string{"WEB.", "Tasks.Web.Swarm.Internal.", "WeB.1.WEBTASK1.", "_HTTP._TCP.web."} {
		qtype := dns.TypeA
		if strings.HasPrefix(name, "_") {
			qtype = dns.TypeSRV
		}
		r := ts.query(t, "udp", name, qtype, 0)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("%s: rcode %s, %d answers", name, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		if r.Question[0].Name != name || r.Answer[0].Header().Name != name {
			t.Fatalf("%s: question %q, owner %q: case not kept", name, r.Question[0].Name, r.Answer[0].Header().Name)
		}
	}
}

// bigRegistry writes a registry with one dnsrr service of n tasks.
func bigRegistry(t *testing.T, n int, labels string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "networks:\n  - {name: net, subnets: [10.9.0.0/16]}\nservices:\n  - name: big\n    endpoint_mode: dnsrr\n    labels: {%s}\n    ports: [{name: http, target: 80}]\n    networks: [{name: net}]\n    tasks:\n", labels)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - {id: task%d, slot: %d, addresses: {net: [10.9.%d.%d]}}\n", i, i, i/250, i%250+1)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTruncatedOverUDPThenCompleteOverTCP(t *testing.T) {
	ts := startServer(t, bigRegistry(t, 60, ""), Config{}, registry.Config{})
	tests := []struct {
		name  string
		netw  string
		qtype uint16
		edns  uint16
		tc    bool
		max   int // reply size bound
	}{
		{"UDP without EDNS is cut to 512 bytes", "udp", dns.TypeA, 0, true, 512},
		{"UDP with a 1232 buffer is cut to it", "udp", dns.TypeSRV, 1232, true, 1232},
		{"UDP with a large buffer gets all", "udp", dns.TypeA, 4096, false, 4096},
		{"TCP gets all", "tcp", dns.TypeSRV, 0, false, 65535},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion("tasks.big.swarm.internal.", tc.qtype)
			if tc.edns > 0 {
				m.SetEdns0(tc.edns, false)
			}
			packed, _ := m.Pack()
			reply := rawExchange(t, tc.netw, ts.addr, packed)
			if len(reply) > tc.max {
				t.Fatalf("reply of %d bytes, bound %d", len(reply), tc.max)
			}
			r := new(dns.Msg)
			if err := r.Unpack(reply); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if r.Truncated != tc.tc {
				t.Fatalf("TC=%v, want %v", r.Truncated, tc.tc)
			}
			if !tc.tc && len(r.Answer) != 60 {
				t.Fatalf("%d answers, want 60", len(r.Answer))
			}
			if tc.tc && len(r.Answer) == 0 {
				t.Fatal("a truncated answer should still carry what fits")
			}
		})
	}
}

// rawExchange sends msg as is and returns the raw reply.
func rawExchange(t *testing.T, netw, addr string, msg []byte) []byte {
	t.Helper()
	reply, err := tryRawExchange(netw, addr, msg, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

func tryRawExchange(netw, addr string, msg []byte, timeout time.Duration) ([]byte, error) {
	c, err := net.DialTimeout(netw, addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if netw == "tcp" {
		msg = append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
	}
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	if netw == "tcp" {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return nil, err
		}
		buf := make([]byte, int(l[0])<<8|int(l[1]))
		_, err := io.ReadFull(c, buf)
		return buf, err
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	return buf[:n], err
}

func firstAnswers(t *testing.T, ts *testServer, name string, queries int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for q := 0; q < queries; q++ {
		r := ts.query(t, "udp", name, dns.TypeA, 0)
		if len(r.Answer) == 0 {
			t.Fatalf("%s: empty answer", name)
		}
		counts[rdata(r.Answer[:1])[0]]++
	}
	return counts
}

func TestSchedulersOverTheWire(t *testing.T) {
	t.Run("roundrobin: over k×n queries each task is first k times", func(t *testing.T) {
		ts := startServer(t, bigRegistry(t, 5, ""), Config{}, registry.Config{})
		counts := firstAnswers(t, ts, "big.", 5*20)
		for ip, c := range counts {
			if c != 20 {
				t.Fatalf("%s first %d times, want 20: %v", ip, c, counts)
			}
		}
		if len(counts) != 5 {
			t.Fatalf("%d tasks came first, want 5", len(counts))
		}
	})
	t.Run("weighted: each task is first weight times per window", func(t *testing.T) {
		ts := startServer(t, example, Config{}, registry.Config{})
		// api: service weight 2 times node weights 1 (node-a) and 3 (node-b).
		counts := firstAnswers(t, ts, "api.", 4*10)
		if counts["10.0.1.21"] != 10 || counts["10.0.1.22"] != 30 {
			t.Fatalf("firsts %v, want 10.0.1.21 ×10 and 10.0.1.22 ×30", counts)
		}
	})
	t.Run("random: first places are uniform", func(t *testing.T) {
		ts := startServer(t, bigRegistry(t, 4, "swarmdns.scheduler: random"), Config{}, registry.Config{})
		const queries = 2000
		sample := func() (map[string]int, float64) {
			counts := firstAnswers(t, ts, "big.", queries)
			var chi2 float64
			for _, c := range counts {
				d := float64(c) - queries/4
				chi2 += d * d / (queries / 4)
			}
			return counts, chi2
		}
		// 3 degrees of freedom, p = 0.0001 for one sample; a sample past
		// it is drawn again (a fair policy fails both once in 10^8 runs,
		// a biased one fails both).
		for try := 1; ; try++ {
			counts, chi2 := sample()
			if len(counts) == 4 && chi2 <= 21.1 {
				break
			}
			if try == 2 || len(counts) != 4 || math.IsNaN(chi2) {
				t.Fatalf("firsts %v, chi-square %.1f", counts, chi2)
			}
			t.Logf("firsts %v, chi-square %.1f: one more sample", counts, chi2)
		}
	})
	t.Run("max-answers 1 answers one task, rotating", func(t *testing.T) {
		ts := startServer(t, bigRegistry(t, 3, ""), Config{}, registry.Config{MaxAnswers: 1})
		for q := 0; q < 3; q++ {
			if r := ts.query(t, "udp", "big.", dns.TypeA, 0); len(r.Answer) != 1 {
				t.Fatalf("%d answers", len(r.Answer))
			}
		}
		if counts := firstAnswers(t, ts, "big.", 30); len(counts) != 3 {
			t.Fatalf("firsts %v", counts)
		}
	})
}

func TestReloadWithABrokenFileKeepsServingTheOldData(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reg.yaml")
	good := "networks: [{name: n}]\nservices:\n  - name: svc\n    networks: [{name: n, vip: 10.5.0.%d}]\n"
	os.WriteFile(path, []byte(fmt.Sprintf(good, 1)), 0o644)
	ts := startServer(t, path, Config{}, registry.Config{})
	answer := func() []string { return rdata(ts.query(t, "udp", "svc.", dns.TypeA, 0).Answer) }
	if got := answer(); !slices.Equal(got, []string{"10.5.0.1"}) {
		t.Fatalf("first %v", got)
	}
	swaps := ts.store.Swaps()
	os.WriteFile(path, []byte("services: [ {name: \n"), 0o644)
	time.Sleep(300 * time.Millisecond)
	if ts.store.Swaps() != swaps {
		t.Fatal("a broken file was published")
	}
	if got := answer(); !slices.Equal(got, []string{"10.5.0.1"}) {
		t.Fatalf("after a broken file: %v", got)
	}
	os.WriteFile(path, []byte(fmt.Sprintf(good, 2)), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(answer(), []string{"10.5.0.2"}) {
		if time.Now().After(deadline) {
			t.Fatalf("the good file was not picked up: %v", answer())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReconfiguredTTLReachesEveryAnswerType(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{TTL: 5})
	ttls := func() map[string]uint32 {
		got := map[string]uint32{}
		for _, qt := range []uint16{dns.TypeA, dns.TypeANY} {
			r := ts.query(t, "udp", "web.", qt, 0)
			if len(r.Answer) == 0 {
				t.Fatalf("%s: no answer", dns.TypeToString[qt])
			}
			got[dns.TypeToString[qt]] = r.Answer[0].Header().Ttl
		}
		return got
	}
	if got := ttls(); got["A"] != 5 || got["ANY"] != 5 {
		t.Fatalf("before: %v, want every TTL 5", got)
	}
	cfg := ts.store.Config()
	cfg.TTL = 42
	if err := ts.store.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	ts.store.Rebuild()
	if got := ttls(); got["A"] != 42 || got["ANY"] != 42 {
		t.Fatalf("after reconfigure and rebuild: %v, want every TTL 42", got)
	}
}

func TestBeforeTheFirstSyncEveryNameGetsSERVFAIL(t *testing.T) {
	ts := startServer(t, "", Config{}, registry.Config{})
	for _, name := range []string{"web.swarm.internal.", "web.", "example.org."} {
		if r := ts.query(t, "udp", name, dns.TypeA, 0); r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("%s: %s, want SERVFAIL", name, dns.RcodeToString[r.Rcode])
		}
	}
}

func TestNamesOutsideTheZoneAreRefusedWithoutAForwarder(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	for _, name := range []string{"example.org.", "nosuch.", "tasks.nosuch.", "1.2.3.4.in-addr.arpa."} {
		r := ts.query(t, "udp", name, dns.TypeA, 0)
		if r.Rcode != dns.RcodeRefused || r.RecursionAvailable {
			t.Fatalf("%s: %s RA=%v, want REFUSED without RA", name, dns.RcodeToString[r.Rcode], r.RecursionAvailable)
		}
		if r.Question[0].Name != name {
			t.Fatalf("question not echoed: %v", r.Question)
		}
	}
}

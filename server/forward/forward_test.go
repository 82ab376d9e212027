package forward

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestReplyHeader(t *testing.T) {
	// echoUpstreamOPT answers with an OPT of its own, with an option we
	// must not relay.
	withOwnOPT := func(q *dns.Msg, tcp bool) *dns.Msg {
		m := answerA(60, 1)(q, tcp)
		m.AuthenticatedData = true
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(4096)
		opt.Option = append(opt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6162"})
		m.Extra = append(m.Extra, opt)
		return m
	}
	type check func(t *testing.T, q, reply, upstream *dns.Msg)
	tests := []struct {
		name  string
		query func() *dns.Msg
		check check
	}{
		{
			name:  "reply carries the client's ID",
			query: func() *dns.Msg { q := query("id.example.", dns.TypeA); q.Id = 0xBEEF; return q },
			check: func(t *testing.T, q, reply, up *dns.Msg) {
				if reply.Id != 0xBEEF {
					t.Errorf("reply ID %#x, want 0xbeef", reply.Id)
				}
				if up.Id == 0xBEEF {
					t.Errorf("upstream saw the client's ID; it should get a fresh random one")
				}
			},
		},
		{
			name:  "question keeps the client's case while upstream is asked in lower case",
			query: func() *dns.Msg { return query("MiXeD.ExAmPlE.", dns.TypeA) },
			check: func(t *testing.T, q, reply, up *dns.Msg) {
				if got := reply.Question[0].Name; got != "MiXeD.ExAmPlE." {
					t.Errorf("reply question %q, want the client's MiXeD.ExAmPlE.", got)
				}
				if got := up.Question[0].Name; got != "mixed.example." {
					t.Errorf("upstream question %q, want mixed.example.", got)
				}
			},
		},
		{
			name: "EDNS0 UDP size and DO bit reach the upstream and come back",
			query: func() *dns.Msg {
				q := query("edns.example.", dns.TypeA)
				q.SetEdns0(1232, true)
				return q
			},
			check: func(t *testing.T, q, reply, up *dns.Msg) {
				opt := up.IsEdns0()
				if opt == nil || opt.UDPSize() != 1232 || !opt.Do() {
					t.Fatalf("upstream OPT = %v, want size 1232 with DO", opt)
				}
				ropt := reply.IsEdns0()
				if ropt == nil || ropt.UDPSize() != 1232 || !ropt.Do() {
					t.Errorf("reply OPT = %v, want size 1232 with DO", ropt)
				}
				if !reply.AuthenticatedData {
					t.Errorf("AD cleared for a DO client")
				}
			},
		},
		{
			name: "DO bit off stays off",
			query: func() *dns.Msg {
				q := query("nodo.example.", dns.TypeA)
				q.SetEdns0(4096, false)
				return q
			},
			check: func(t *testing.T, q, reply, up *dns.Msg) {
				if opt := up.IsEdns0(); opt == nil || opt.Do() || opt.UDPSize() != 4096 {
					t.Errorf("upstream OPT = %v, want size 4096 without DO", opt)
				}
				if reply.AuthenticatedData {
					t.Errorf("AD set for a client that asked neither DO nor AD")
				}
			},
		},
		{
			name:  "client without EDNS0: none upstream, none in the reply",
			query: func() *dns.Msg { return query("plain.example.", dns.TypeA) },
			check: func(t *testing.T, q, reply, up *dns.Msg) {
				if up.IsEdns0() != nil {
					t.Errorf("upstream got an OPT record")
				}
				if reply.IsEdns0() != nil {
					t.Errorf("reply has an OPT record")
				}
			},
		},
		{
			name: "upstream's EDNS0 options are not relayed",
			query: func() *dns.Msg {
				q := query("opt.example.", dns.TypeA)
				q.SetEdns0(1400, false)
				return q
			},
			check: func(t *testing.T, q, reply, up *dns.Msg) {
				opt := reply.IsEdns0()
				if opt == nil || opt.UDPSize() != 1400 || len(opt.Option) != 0 {
					t.Errorf("reply OPT = %v, want bare size 1400", opt)
				}
				n := 0
				for _, rr := range reply.Extra {
					if rr.Header().Rrtype == dns.TypeOPT {
						n++
					}
				}
				if n != 1 {
					t.Errorf("reply has %d OPT records, want 1", n)
				}
			},
		},
		{
			name: "client's own EDNS0 options are not forwarded",
			query: func() *dns.Msg {
				q := query("cookie.example.", dns.TypeA)
				q.SetEdns0(1232, false)
				opt := q.IsEdns0()
				opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
				return q
			},
			check: func(t *testing.T, q, reply, up *dns.Msg) {
				if opt := up.IsEdns0(); opt == nil || len(opt.Option) != 0 {
					t.Errorf("upstream OPT = %v, want no options", opt)
				}
			},
		},
		{
			name: "RD and CD are the client's",
			query: func() *dns.Msg {
				q := query("flags.example.", dns.TypeA)
				q.RecursionDesired = false
				q.CheckingDisabled = true
				return q
			},
			check: func(t *testing.T, q, reply, up *dns.Msg) {
				if reply.RecursionDesired || !reply.CheckingDisabled || !reply.Response {
					t.Errorf("reply RD=%v CD=%v QR=%v, want RD=false CD=true QR=true", reply.RecursionDesired, reply.CheckingDisabled, reply.Response)
				}
				if !up.RecursionDesired || !up.CheckingDisabled {
					t.Errorf("upstream RD=%v CD=%v, want both set", up.RecursionDesired, up.CheckingDisabled)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, cacheSize := range []int{0, 100} {
				u := startUpstream(t, withOwnOPT)
				f := newForwarder(t, Config{CacheSize: cacheSize}, u.addr)
				q := tt.query()
				reply, err := f.Exchange(t.Context(), q, false)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := reply.Pack(); err != nil {
					t.Fatalf("reply does not pack: %v", err)
				}
				tt.check(t, q, reply, u.last())
			}
		})
	}
}

func TestOverloadReturnsErrOverloadedAtOnce(t *testing.T) {
	release := make(chan struct{})
	u := startUpstream(t, func(q *dns.Msg, tcp bool) *dns.Msg {
		<-release
		return answerA(60, 1)(q, tcp)
	})
	f := newForwarder(t, Config{MaxInflight: 2, Timeout: 5 * time.Second}, u.addr)

	var wg sync.WaitGroup
	for _, name := range []string{"a.example.", "b.example."} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Exchange(context.Background(), query(name, dns.TypeA), false); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	waitFor(t, func() bool { return u.queries() == 2 })

	start := time.Now()
	_, err := f.Exchange(t.Context(), query("c.example.", dns.TypeA), false)
	if !errors.Is(err, ErrOverloaded) {
		t.Errorf("third distinct query: error %v, want ErrOverloaded", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("ErrOverloaded took %s, want at once", d)
	}

	// A duplicate of an in-flight query joins it instead of needing a slot.
	dup := make(chan error, 1)
	go func() {
		_, err := f.Exchange(context.Background(), query("a.example.", dns.TypeA), false)
		dup <- err
	}()
	waitFor(t, func() bool {
		return f.flights.waiting(key{name: "a.example.", qtype: dns.TypeA, qclass: dns.ClassINET}) == 1
	})

	close(release)
	wg.Wait()
	if err := <-dup; err != nil {
		t.Errorf("duplicate of in-flight query: %v", err)
	}
	if _, err := f.Exchange(t.Context(), query("c.example.", dns.TypeA), false); err != nil {
		t.Errorf("after the flights landed: %v", err)
	}
	if n := f.inflight.Load(); n != 0 {
		t.Errorf("inflight counter %d after everything finished, want 0", n)
	}
}

func TestMalformedQueries(t *testing.T) {
	u := startUpstream(t, answerA(60, 1))
	f := newForwarder(t, Config{}, u.addr)
	notify := query("n.example.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	empty := new(dns.Msg)
	empty.Id = 7
	two := query("a.example.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "b.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	axfr := query("zone.example.", dns.TypeAXFR)
	tests := []struct {
		name string
		q    *dns.Msg
		want int
	}{
		{"non-QUERY opcode is NOTIMP", notify, dns.RcodeNotImplemented},
		{"zone transfer is REFUSED, not proxied", axfr, dns.RcodeRefused},
		{"no question is FORMERR", empty, dns.RcodeFormatError},
		{"two questions is FORMERR", two, dns.RcodeFormatError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := f.Exchange(t.Context(), tt.q, false)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != tt.want || m.Id != tt.q.Id {
				t.Errorf("rcode %s id %d, want %s id %d", dns.RcodeToString[m.Rcode], m.Id, dns.RcodeToString[tt.want], tt.q.Id)
			}
		})
	}
	if u.queries() != 0 {
		t.Errorf("malformed queries reached upstream %d times", u.queries())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative timeout":      {Upstreams: []string{"127.0.0.1"}, Timeout: -1},
		"negative cache size":   {Upstreams: []string{"127.0.0.1"}, CacheSize: -1},
		"negative cache TTL":    {Upstreams: []string{"127.0.0.1"}, CacheMaxTTL: -1},
		"negative max inflight": {Upstreams: []string{"127.0.0.1"}, MaxInflight: -1},
		"host name upstream":    {Upstreams: []string{"resolver.example"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want error", name)
		}
	}
	f, err := New(Config{Upstreams: []string{"127.0.0.1:5300", "::1"}, Logger: nullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Enabled() || len(f.Upstreams()) != 2 || f.Upstreams()[1].String() != "[::1]:53" {
		t.Errorf("Enabled=%v Upstreams=%v", f.Enabled(), f.Upstreams())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStatsCountHitsMissesAndFailures(t *testing.T) {
	up := startUpstream(t, func(q *dns.Msg, _ bool) *dns.Msg {
		if q.Question[0].Name == "silent.test." {
			return nil
		}
		m := new(dns.Msg).SetReply(q)
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 10.0.0.1")
		m.Answer = []dns.RR{rr}
		return m
	})
	f := newForwarder(t, Config{CacheSize: 10}, up.addr)
	ctx := context.Background()
	f.Exchange(ctx, query("a.test.", dns.TypeA), false)
	f.Exchange(ctx, query("a.test.", dns.TypeA), false)
	f.Exchange(ctx, query("silent.test.", dns.TypeA), false)
	st := f.Stats()
	if st.CacheHits != 1 || st.CacheMisses != 2 || st.CacheEntries != 1 || st.Failures != 1 || st.Inflight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

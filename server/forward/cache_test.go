package forward

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// clock is a settable time source for TTL tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func nxdomain(soaTTL, minimum uint32) answerFunc {
	return func(q *dns.Msg, _ bool) *dns.Msg {
		m := new(dns.Msg).SetRcode(q, dns.RcodeNameError)
		m.Ns = append(m.Ns, soa("example.", soaTTL, minimum))
		return m
	}
}

func nodata(soaTTL, minimum uint32) answerFunc {
	return func(q *dns.Msg, _ bool) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		m.Ns = append(m.Ns, soa("example.", soaTTL, minimum))
		return m
	}
}

func TestCache(t *testing.T) {
	type step struct {
		after     time.Duration // clock advance before the query
		name      string
		do        bool
		wantAsked int    // upstream queries so far
		wantTTL   uint32 // TTL of every record in the reply
		wantRcode int
	}
	tests := []struct {
		name   string
		answer answerFunc
		maxTTL time.Duration
		steps  []step
	}{
		{
			name:   "cache hit does not reach upstream",
			answer: answerA(300, 2),
			steps: []step{
				{name: "hit.example.", wantAsked: 1, wantTTL: 300},
				{name: "hit.example.", wantAsked: 1, wantTTL: 300},
			},
		},
		{
			name:   "names differing only in case share an entry",
			answer: answerA(300, 1),
			steps: []step{
				{name: "case.example.", wantAsked: 1, wantTTL: 300},
				{name: "CASE.Example.", wantAsked: 1, wantTTL: 300},
			},
		},
		{
			name:   "DO bit is part of the key",
			answer: answerA(300, 1),
			steps: []step{
				{name: "do.example.", wantAsked: 1, wantTTL: 300},
				{name: "do.example.", do: true, wantAsked: 2, wantTTL: 300},
				{name: "do.example.", do: true, wantAsked: 2, wantTTL: 300},
			},
		},
		{
			name:   "TTL is decremented by the age of the entry",
			answer: answerA(300, 2),
			steps: []step{
				{name: "age.example.", wantAsked: 1, wantTTL: 300},
				{after: 7500 * time.Millisecond, name: "age.example.", wantAsked: 1, wantTTL: 293},
				{after: 100 * time.Second, name: "age.example.", wantAsked: 1, wantTTL: 193},
			},
		},
		{
			name:   "expired entry is fetched again",
			answer: answerA(30, 1),
			steps: []step{
				{name: "exp.example.", wantAsked: 1, wantTTL: 30},
				{after: 29 * time.Second, name: "exp.example.", wantAsked: 1, wantTTL: 1},
				{after: time.Second, name: "exp.example.", wantAsked: 2, wantTTL: 30},
			},
		},
		{
			name:   "smallest TTL in the answer sets the lifetime",
			answer: mixedTTL(600, 45),
			steps: []step{
				{name: "mixed.example.", wantAsked: 1, wantTTL: 45},
				{after: 45 * time.Second, name: "mixed.example.", wantAsked: 2, wantTTL: 45},
			},
		},
		{
			name:   "CacheMaxTTL caps the TTL",
			answer: answerA(86400, 1),
			maxTTL: 10 * time.Second,
			steps: []step{
				{name: "cap.example.", wantAsked: 1, wantTTL: 10},
				{after: 4 * time.Second, name: "cap.example.", wantAsked: 1, wantTTL: 6},
				{after: 6 * time.Second, name: "cap.example.", wantAsked: 2, wantTTL: 10},
			},
		},
		{
			name:   "NXDOMAIN is cached for the SOA MINIMUM when smaller than the SOA TTL",
			answer: nxdomain(3600, 60),
			steps: []step{
				{name: "nx.example.", wantAsked: 1, wantTTL: 60, wantRcode: dns.RcodeNameError},
				{after: 59 * time.Second, name: "nx.example.", wantAsked: 1, wantTTL: 1, wantRcode: dns.RcodeNameError},
				{after: time.Second, name: "nx.example.", wantAsked: 2, wantTTL: 60, wantRcode: dns.RcodeNameError},
			},
		},
		{
			name:   "NXDOMAIN is cached for the SOA TTL when smaller than MINIMUM",
			answer: nxdomain(20, 900),
			steps: []step{
				{name: "nx2.example.", wantAsked: 1, wantTTL: 20, wantRcode: dns.RcodeNameError},
				{after: 19 * time.Second, name: "nx2.example.", wantAsked: 1, wantTTL: 1, wantRcode: dns.RcodeNameError},
				{after: time.Second, name: "nx2.example.", wantAsked: 2, wantTTL: 20, wantRcode: dns.RcodeNameError},
			},
		},
		{
			name:   "NODATA is cached from the SOA",
			answer: nodata(300, 120),
			steps: []step{
				{name: "nodata.example.", wantAsked: 1, wantTTL: 120},
				{after: 100 * time.Second, name: "nodata.example.", wantAsked: 1, wantTTL: 20},
			},
		},
		{
			name:   "negative cache TTL is capped by CacheMaxTTL too",
			answer: nxdomain(3600, 3600),
			maxTTL: 5 * time.Second,
			steps: []step{
				{name: "nxcap.example.", wantAsked: 1, wantTTL: 5, wantRcode: dns.RcodeNameError},
				{after: 5 * time.Second, name: "nxcap.example.", wantAsked: 2, wantTTL: 5, wantRcode: dns.RcodeNameError},
			},
		},
		{
			name:   "NXDOMAIN without SOA is not cached",
			answer: answerRcode(dns.RcodeNameError),
			steps: []step{
				{name: "nosoa.example.", wantAsked: 1, wantRcode: dns.RcodeNameError},
				{name: "nosoa.example.", wantAsked: 2, wantRcode: dns.RcodeNameError},
			},
		},
		{
			name:   "TTL 0 answers are not cached",
			answer: answerA(0, 1),
			steps: []step{
				{name: "zero.example.", wantAsked: 1, wantTTL: 0},
				{name: "zero.example.", wantAsked: 2, wantTTL: 0},
			},
		},
		{
			name:   "FORMERR is passed on but not cached",
			answer: answerRcode(dns.RcodeFormatError),
			steps: []step{
				{name: "formerr.example.", wantAsked: 1, wantRcode: dns.RcodeFormatError},
				{name: "formerr.example.", wantAsked: 2, wantRcode: dns.RcodeFormatError},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t, tt.answer)
			f := newForwarder(t, Config{CacheSize: 100, CacheMaxTTL: tt.maxTTL}, u.addr)
			clk := &clock{now: time.Unix(1_700_000_000, 0)}
			f.now = clk.Now
			for i, s := range tt.steps {
				clk.Advance(s.after)
				q := query(s.name, dns.TypeA)
				if s.do {
					q.SetEdns0(1232, true)
				}
				m, err := f.Exchange(t.Context(), q, false)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := u.queries(); got != s.wantAsked {
					t.Errorf("step %d: upstream asked %d times, want %d", i, got, s.wantAsked)
				}
				if m.Rcode != s.wantRcode {
					t.Errorf("step %d: rcode %s, want %s", i, dns.RcodeToString[m.Rcode], dns.RcodeToString[s.wantRcode])
				}
				if m.Question[0].Name != s.name {
					t.Errorf("step %d: question %q, want the client's %q", i, m.Question[0].Name, s.name)
				}
				for _, rr := range append(append(m.Answer[:len(m.Answer):len(m.Answer)], m.Ns...), m.Extra...) {
					if rr.Header().Rrtype != dns.TypeOPT && rr.Header().Ttl != s.wantTTL {
						t.Errorf("step %d: %s has TTL %d, want %d", i, rr.Header().Name, rr.Header().Ttl, s.wantTTL)
					}
				}
			}
		})
	}
}

func mixedTTL(long, short uint32) answerFunc {
	return func(q *dns.Msg, _ bool) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		name := q.Question[0].Name
		m.Answer = append(m.Answer, rrA(name, long, "192.0.2.1"), rrA(name, short, "192.0.2.2"))
		return m
	}
}

func TestSERVFAILIsNotCached(t *testing.T) {
	u := startUpstream(t, answerRcode(dns.RcodeServerFailure))
	f := newForwarder(t, Config{CacheSize: 100}, u.addr)
	for i := range 2 {
		if _, err := f.Exchange(t.Context(), query("sf.example.", dns.TypeA), false); err == nil {
			t.Fatalf("query %d: SERVFAIL from the only upstream did not fail", i)
		}
	}
	if u.queries() != 2 {
		t.Errorf("upstream asked %d times, want 2 (SERVFAIL must not be cached)", u.queries())
	}
	if f.cache.len() != 0 {
		t.Errorf("cache holds %d entries after SERVFAIL", f.cache.len())
	}
}

func TestCacheHitRecordsAreNotShared(t *testing.T) {
	// Replies in the same second share records; a later second must not
	// rewrite the TTLs of a reply already handed out.
	u := startUpstream(t, answerA(300, 1))
	f := newForwarder(t, Config{CacheSize: 10}, u.addr)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	f.now = clk.Now
	first, err := f.Exchange(t.Context(), query("share.example.", dns.TypeA), false)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	second, err := f.Exchange(t.Context(), query("share.example.", dns.TypeA), false)
	if err != nil {
		t.Fatal(err)
	}
	if first.Answer[0].Header().Ttl != 300 || second.Answer[0].Header().Ttl != 290 {
		t.Errorf("TTLs %d then %d, want 300 then 290", first.Answer[0].Header().Ttl, second.Answer[0].Header().Ttl)
	}
	// A caller appending to a reply must not write into the shared records.
	second.Answer = append(second.Answer, rrA("x.", 1, "192.0.2.9"))
	third, _ := f.Exchange(t.Context(), query("share.example.", dns.TypeA), false)
	if len(third.Answer) != 1 {
		t.Errorf("append to one reply leaked into the next: %d answers", len(third.Answer))
	}
}

func TestCacheBounds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	msg := func(name string, n int) *dns.Msg {
		m := new(dns.Msg).SetQuestion(name, dns.TypeA)
		m.Response = true
		for i := range n {
			m.Answer = append(m.Answer, rrA(name, 300, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)))
		}
		return m
	}
	k := func(name string) key { return key{name: name, qtype: dns.TypeA, qclass: dns.ClassINET} }

	t.Run("least recently used entry is evicted at the entry limit", func(t *testing.T) {
		c := newCache(2, time.Hour, 0)
		if len(c.shards) != 2 {
			t.Fatalf("%d shards for size 2", len(c.shards))
		}
		// Force one shard so the LRU order is observable.
		c.shards = c.shards[:1]
		c.shards[0].max = 2
		c.put(k("a."), msg("a.", 1), now)
		c.put(k("b."), msg("b.", 1), now)
		c.get(k("a."), now) // a is now more recent than b
		c.put(k("c."), msg("c.", 1), now)
		if e, _ := c.get(k("b."), now); e != nil {
			t.Errorf("b survived; it was least recently used")
		}
		for _, n := range []string{"a.", "c."} {
			if e, _ := c.get(k(n), now); e == nil {
				t.Errorf("%s was evicted", n)
			}
		}
	})
	t.Run("entry count never exceeds CacheSize", func(t *testing.T) {
		for _, size := range []int{1, 3, 64, 100, 1000} {
			c := newCache(size, time.Hour, 0)
			for i := range size * 3 {
				name := fmt.Sprintf("n%d.example.", i)
				c.put(k(name), msg(name, 1), now)
			}
			if c.len() > size {
				t.Errorf("size %d: holds %d entries", size, c.len())
			}
		}
	})
	t.Run("bytes per shard stay within budget", func(t *testing.T) {
		c := newCache(256, time.Hour, 0) // 64 shards of 4 entries, 64 KiB each
		for i := range 1000 {
			name := fmt.Sprintf("big%d.example.", i)
			c.put(k(name), msg(name, 200), now) // ~3.2 KB each
		}
		for i := range c.shards {
			s := &c.shards[i]
			if s.bytes > s.maxBytes {
				t.Errorf("shard %d holds %d bytes, budget %d", i, s.bytes, s.maxBytes)
			}
			sum := 0
			for _, e := range s.m {
				sum += e.size
			}
			if sum != s.bytes {
				t.Errorf("shard %d accounts %d bytes, entries sum to %d", i, s.bytes, sum)
			}
		}
	})
	t.Run("answer larger than a shard's budget is not cached", func(t *testing.T) {
		c := newCache(1, time.Hour, 0)
		c.shards[0].maxBytes = 1000
		if e, _ := c.put(k("huge."), msg("huge.", 100), now); e != nil {
			t.Errorf("cached a %d-byte answer in a 1000-byte shard", e.size)
		}
	})
}

func TestCacheDisabledAlwaysAsksUpstream(t *testing.T) {
	u := startUpstream(t, answerA(300, 1))
	f := newForwarder(t, Config{}, u.addr)
	for range 3 {
		if _, err := f.Exchange(t.Context(), query("nocache.example.", dns.TypeA), false); err != nil {
			t.Fatal(err)
		}
	}
	if u.queries() != 3 {
		t.Errorf("upstream asked %d times, want 3", u.queries())
	}
}

func TestCacheHitAllocations(t *testing.T) {
	u := startUpstream(t, answerA(300, 2))
	f := newForwarder(t, Config{CacheSize: 100}, u.addr)
	plain := query("alloc.example.", dns.TypeA)
	edns := query("alloc.example.", dns.TypeAAAA)
	edns.SetEdns0(1232, true)
	ctx := context.Background()
	for _, q := range []*dns.Msg{plain, edns} {
		if _, err := f.Exchange(ctx, q, false); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() { f.Exchange(ctx, q, false) })
		// The reply itself; views are rebuilt at most once a second.
		if allocs > 1.01 {
			t.Errorf("cache hit (EDNS0 %v) allocates %v times, want 1", q.IsEdns0() != nil, allocs)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	u := startUpstream(b, answerA(300, 2))
	f := newForwarder(b, Config{CacheSize: 10000}, u.addr)
	for _, bc := range []struct {
		name string
		q    *dns.Msg
	}{
		{"plain", query("bench.example.", dns.TypeA)},
		{"edns", func() *dns.Msg { q := query("bench.example.", dns.TypeAAAA); q.SetEdns0(1232, false); return q }()},
	} {
		if _, err := f.Exchange(context.Background(), bc.q, false); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Exchange(ctx, bc.q, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := f.Exchange(ctx, bc.q, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
	if u.queries() != 2 {
		b.Errorf("upstream asked %d times during the benchmark, want 2", u.queries())
	}
}

func TestConcurrentHitsPackedLikeTheServerAreRaceFree(t *testing.T) {
	u := startUpstream(t, answerA(300, 40))
	f := newForwarder(t, Config{CacheSize: 10}, u.addr)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	f.now = clk.Now
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g == 0 && i%20 == 0 {
					clk.Advance(time.Second) // new views while others read
				}
				q := query("race.example.", dns.TypeA)
				if g%2 == 0 {
					q.SetEdns0(1232, false)
				}
				m, err := f.Exchange(context.Background(), q, g%3 == 0)
				if err != nil {
					t.Error(err)
					return
				}
				// What the server does with a reply.
				m.Id, m.RecursionAvailable, m.Question = q.Id, true, q.Question
				m.Truncate(dns.MinMsgSize)
				if _, err := m.Pack(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestServeStale: with ServeStale, an expired answer is kept that long to
// answer with, at TTL 30, when no upstream can (RFC 8767); never while an
// upstream answers, and never without ServeStale.
func TestServeStale(t *testing.T) {
	type step struct {
		after    time.Duration // clock advance before the query
		upstream bool          // the upstream answers (else SERVFAIL)
		wantErr  bool
		wantTTL  uint32
		wantIP   string
	}
	tests := []struct {
		name  string
		stale time.Duration
		steps []step
	}{
		{"an expired answer is served at TTL 30 while the upstream fails", time.Hour, []step{
			{0, true, false, 60, "192.0.2.1"},
			{61 * time.Second, false, false, 30, "192.0.2.1"},
			{30 * time.Minute, false, false, 30, "192.0.2.1"},
		}},
		{"a working upstream is asked, not the stale entry", time.Hour, []step{
			{0, true, false, 60, "192.0.2.1"},
			{61 * time.Second, true, false, 60, "192.0.2.2"},
		}},
		{"past the stale window the failure is passed on", time.Hour, []step{
			{0, true, false, 60, "192.0.2.1"},
			{60*time.Second + time.Hour, false, true, 0, ""},
		}},
		{"without ServeStale an expired answer is gone", 0, []step{
			{0, true, false, 60, "192.0.2.1"},
			{61 * time.Second, false, true, 0, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var up atomic.Bool
			var answers atomic.Int32
			u := startUpstream(t, func(q *dns.Msg, _ bool) *dns.Msg {
				if !up.Load() {
					return new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
				}
				m := new(dns.Msg).SetReply(q)
				m.Answer = append(m.Answer, rrA(q.Question[0].Name, 60, fmt.Sprintf("192.0.2.%d", answers.Add(1))))
				return m
			})
			f := newForwarder(t, Config{CacheSize: 100, ServeStale: tt.stale}, u.addr)
			clk := &clock{now: time.Unix(1_700_000_000, 0)}
			f.now = clk.Now
			stale := uint64(0)
			for i, s := range tt.steps {
				clk.Advance(s.after)
				up.Store(s.upstream)
				m, err := f.Exchange(t.Context(), query("stale.example.", dns.TypeA), false)
				if (err != nil) != s.wantErr {
					t.Fatalf("step %d: error %v, want error %v", i, err, s.wantErr)
				}
				if err != nil {
					continue
				}
				if len(m.Answer) != 1 || m.Answer[0].Header().Ttl != s.wantTTL || m.Answer[0].(*dns.A).A.String() != s.wantIP {
					t.Errorf("step %d: answer %v, want %s with TTL %d", i, m.Answer, s.wantIP, s.wantTTL)
				}
				if !s.upstream {
					stale++
				}
			}
			if got := f.Stats().Stale; got != stale {
				t.Errorf("stale answers counted %d, want %d", got, stale)
			}
		})
	}
}

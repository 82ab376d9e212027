package forward

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

const (
	maxShards = 64
	// bytesPerEntry budgets the average wire size of a cached answer: a
	// shard holds at most entries*bytesPerEntry bytes (and at least one
	// maximum-size message), so a few huge answers evict many small ones
	// rather than growing memory.
	bytesPerEntry = 1024
)

// key identifies cached answers and coalesced queries.
type key struct {
	name          string // lower case
	qtype, qclass uint16
	do, cd        bool
}

// cache is a sharded LRU of upstream answers, bounded in entries and bytes.
type cache struct {
	shards []shard
	seed   maphash.Seed
	maxTTL uint32
	// stale is how long past its TTL an entry is kept to answer when no
	// upstream can (RFC 8767), in seconds; 0 drops it when it expires.
	stale uint32
}

// staleTTL is the TTL of a stale answer (RFC 8767 section 4 recommends
// 30 s): clients come back soon, when an upstream may answer again.
const staleTTL = 30

type shard struct {
	mu       sync.Mutex
	m        map[key]*entry
	lru      entry // sentinel; lru.next is the most recently used
	max      int
	bytes    int
	maxBytes int
}

// entry is one cached answer. Every record carries the same TTL: what is
// left of the entry's lifetime.
type entry struct {
	key        key
	prev, next *entry
	hdr        dns.MsgHdr
	born       time.Time
	ttl        uint32 // seconds, from born
	size       int    // wire size of the reply without OPT
	view       atomic.Pointer[view]
}

// view is an entry's records rendered for one age in seconds. Views are
// immutable and shared by every reply in that second.
type view struct {
	age               uint32
	answer, ns, extra []dns.RR
}

func newCache(size int, maxTTL, stale time.Duration) *cache {
	n := 1
	for n*2 <= size && n*2 <= maxShards {
		n *= 2
	}
	per := size / n
	c := &cache{
		shards: make([]shard, n),
		seed:   maphash.MakeSeed(),
		maxTTL: uint32(min(maxTTL/time.Second, 1<<31-1)),
		stale:  uint32(min(stale/time.Second, 1<<31-1)),
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[key]*entry)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.max = per
		s.maxBytes = max(per*bytesPerEntry, dns.MaxMsgSize)
	}
	return c
}

func (c *cache) shard(k key) *shard {
	return &c.shards[maphash.String(c.seed, k.name)&uint64(len(c.shards)-1)]
}

// get returns the live entry for k and its records as of now.
func (c *cache) get(k key, now time.Time) (*entry, *view) {
	e, age := c.lookup(k, now, true)
	if e == nil {
		return nil, nil
	}
	return e, e.viewAt(age)
}

// lookup returns the entry for k and its age in seconds: only while it is
// live, and then as the most recently used, when fresh is set; also while
// it is within the stale window otherwise. Past that it is dropped.
func (c *cache) lookup(k key, now time.Time, fresh bool) (*entry, uint32) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil {
		return nil, 0
	}
	age := e.age(now)
	switch {
	case uint64(age) >= uint64(e.ttl)+uint64(c.stale):
		s.remove(e)
		return nil, 0
	case !fresh:
		return e, age
	case age >= e.ttl:
		return nil, 0 // kept for serving stale
	}
	if s.lru.next != e {
		s.unlink(e)
		s.pushFront(e)
	}
	return e, age
}

// getStale returns the entry for k if it has expired less than the stale
// window ago, with its records at the stale TTL.
func (c *cache) getStale(k key, now time.Time) (*entry, *view) {
	if c.stale == 0 {
		return nil, nil
	}
	e, age := c.lookup(k, now, false)
	if e == nil {
		return nil, nil
	}
	if age < e.ttl {
		return e, e.viewAt(age) // filled again since the upstreams failed
	}
	v := e.view.Load()
	return e, &view{age: age, answer: retime(v.answer, staleTTL), ns: retime(v.ns, staleTTL), extra: retime(v.extra, staleTTL)}
}

// put caches m, which the cache then owns, if it is cacheable, and returns
// its entry.
func (c *cache) put(k key, m *dns.Msg, now time.Time) (*entry, *view) {
	ttl, ok := cacheTTL(m)
	if !ok {
		return nil, nil
	}
	ttl = min(ttl, c.maxTTL)
	if ttl == 0 {
		return nil, nil
	}
	s := c.shard(k)
	m.Compress = true
	e := &entry{key: k, hdr: m.MsgHdr, born: now, ttl: ttl, size: m.Len()}
	if e.size > s.maxBytes {
		return nil, nil
	}
	v := &view{answer: m.Answer, ns: m.Ns, extra: m.Extra}
	for _, rrs := range [][]dns.RR{v.answer, v.ns, v.extra} {
		for _, rr := range rrs {
			rr.Header().Ttl = ttl
		}
	}
	e.view.Store(v)

	s.mu.Lock()
	if old := s.m[k]; old != nil {
		s.remove(old)
	}
	s.m[k] = e
	s.pushFront(e)
	s.bytes += e.size
	for len(s.m) > s.max || s.bytes > s.maxBytes {
		s.remove(s.lru.prev)
	}
	s.mu.Unlock()
	return e, v
}

// len returns the number of entries, expired or not.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (s *shard) pushFront(e *entry) {
	e.prev, e.next = &s.lru, s.lru.next
	e.next.prev = e
	s.lru.next = e
}

func (s *shard) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (s *shard) remove(e *entry) {
	s.unlink(e)
	delete(s.m, e.key)
	s.bytes -= e.size
}

func (e *entry) age(now time.Time) uint32 {
	d := now.Sub(e.born)
	if d < 0 {
		return 0
	}
	return uint32(min(d/time.Second, 1<<32-1))
}

// viewAt returns the records with TTLs decremented by age, rendering them
// at most once per second per entry.
func (e *entry) viewAt(age uint32) *view {
	v := e.view.Load()
	if v.age == age {
		return v
	}
	ttl := e.ttl - age
	nv := &view{age: age, answer: retime(v.answer, ttl), ns: retime(v.ns, ttl), extra: retime(v.extra, ttl)}
	e.view.Store(nv)
	return nv
}

func retime(rrs []dns.RR, ttl uint32) []dns.RR {
	if len(rrs) == 0 {
		return rrs
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Ttl = ttl
	}
	return out
}

// cacheTTL says how long m may be cached: the smallest record TTL for an
// answer; for NXDOMAIN and NODATA, the smaller of the SOA's TTL and its
// MINIMUM field (RFC 2308 section 5). Errors, truncated replies and negative
// answers without a SOA are not cached.
func cacheTTL(m *dns.Msg) (uint32, bool) {
	if m.Truncated {
		return 0, false
	}
	switch {
	case m.Rcode == dns.RcodeNameError, m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0:
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				return min(soa.Hdr.Ttl, soa.Minttl), true
			}
		}
		return 0, false
	case m.Rcode == dns.RcodeSuccess:
		ttl := ^uint32(0)
		for _, rrs := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range rrs {
				if rr.Header().Rrtype != dns.TypeOPT {
					ttl = min(ttl, rr.Header().Ttl)
				}
			}
		}
		return ttl, true
	default:
		return 0, false
	}
}

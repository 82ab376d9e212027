package server

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// RateLimit is response rate limiting for authoritative UDP answers, as
// BIND's RRL: each client prefix (/24 for IPv4, /56 for IPv6) may get Rate
// answers a second; past it answers are dropped, except every Slip-th,
// which goes out empty with TC set so that a real client retries over TCP
// (which cannot be spoofed) while a spoofed victim gets nothing larger
// than the query. Forwarded answers and TCP are not limited.
type RateLimit struct {
	// Rate is answers per second per prefix; 0 disables limiting.
	Rate int
	// Slip sends every Slip-th limited answer truncated (0: drop all).
	Slip int

	shards [rrlShards]rrlShard
	seed   maphash.Seed
	now    func() time.Time
}

const (
	rrlShards     = 64
	rrlShardSlots = 1024 // buckets per shard: memory is fixed, whatever the clients
)

type rrlShard struct {
	mu      sync.Mutex
	buckets [rrlShardSlots]rrlBucket
}

type rrlBucket struct {
	prefix netip.Prefix
	tokens float64
	last   time.Time
	slip   int
}

// NewRateLimit returns a limiter, or nil when rate is 0.
func NewRateLimit(rate, slip int) *RateLimit {
	if rate <= 0 {
		return nil
	}
	return &RateLimit{Rate: rate, Slip: slip, seed: maphash.MakeSeed(), now: time.Now}
}

// verdict is what to do with one answer.
type verdict uint8

const (
	rrlSend verdict = iota
	rrlSlip         // send empty with TC
	rrlDrop
)

func rrlPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		p, _ := a.Prefix(24)
		return p
	}
	p, _ := a.Prefix(56)
	return p
}

// check takes one answer from client's prefix bucket. Two prefixes that
// hash to one bucket share it until one of them goes quiet: a collision
// limits more, never less.
func (l *RateLimit) check(client netip.Addr) verdict {
	p := rrlPrefix(client)
	b16 := p.Addr().As16()
	h := maphash.Bytes(l.seed, b16[:])
	sh := &l.shards[h%rrlShards]
	now := l.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := &sh.buckets[(h/rrlShards)%rrlShardSlots]
	if b.prefix != p || now.Sub(b.last) > time.Second {
		if b.prefix != p {
			b.slip = 0
		}
		b.prefix, b.tokens, b.last = p, float64(l.Rate), now
	} else {
		b.tokens = min(float64(l.Rate), b.tokens+now.Sub(b.last).Seconds()*float64(l.Rate))
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return rrlSend
	}
	if l.Slip > 0 {
		if b.slip++; b.slip >= l.Slip {
			b.slip = 0
			return rrlSlip
		}
	}
	return rrlDrop
}

// slipped cuts a reply down to its header and question, with TC set.
func slipped(out []byte, qend int) []byte {
	if qend < headerLen || qend > len(out) {
		qend = headerLen
	}
	out = out[:qend]
	out[2] |= flagTC >> 8
	for i := 6; i < headerLen; i++ {
		out[i] = 0
	}
	return out
}

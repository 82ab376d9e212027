// Package forward sends the queries swarmdns does not answer itself to
// upstream resolvers, with failover, a cache and coalescing of duplicates.
package forward

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout     = 2 * time.Second
	DefaultMaxInflight = 1024
	DefaultCacheMaxTTL = time.Hour
)

// Coalesced queries waiting at once are bounded: this many per allowed
// upstream exchange, and at least minWaiting.
const (
	waitersPerExchange = 64
	minWaiting         = 1024
)

var (
	// ErrOverloaded is returned by Exchange when MaxInflight upstream
	// exchanges are already under way.
	ErrOverloaded = errors.New("forward: too many queries in flight")
	// ErrNoUpstreams is returned by Exchange on a Forwarder that is not
	// Enabled.
	ErrNoUpstreams = errors.New("forward: no upstream resolver configured")
)

// Config configures a Forwarder. The zero value reads /etc/resolv.conf and
// has no cache.
type Config struct {
	// Upstreams are "ip[:port]" resolvers, tried in order. Empty means the
	// nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read when Upstreams is empty. Default /etc/resolv.conf;
	// a missing default file leaves the Forwarder disabled, a missing
	// configured one is an error.
	ResolvConf string
	// Self are swarmdns's own listen addresses, never used as upstreams.
	Self []netip.AddrPort
	// Timeout bounds each try of each upstream. Default 2s.
	Timeout time.Duration
	// CacheSize is the number of cached answers; 0 disables the cache.
	CacheSize int
	// CacheMaxTTL caps how long an answer is cached. Default 1h.
	CacheMaxTTL time.Duration
	// ServeStale keeps a cached answer this long past its TTL, to answer
	// with (at a TTL of 30 s) when no upstream can (RFC 8767); 0 never.
	ServeStale time.Duration
	// MaxInflight caps concurrent upstream exchanges; a query that joins
	// an identical one under way takes no slot, but at most 64 per slot
	// (at least 1024) wait at once; more get ErrOverloaded. Default 1024.
	MaxInflight int
	// Logger receives warnings about skipped upstreams and debug detail on
	// failures. Default the logrus standard logger.
	Logger *logrus.Entry
}

// Forwarder answers queries by asking upstream resolvers. It is safe for
// concurrent use.
type Forwarder struct {
	upstreams   []netip.AddrPort
	addrs       []string // upstreams as dial strings
	health      []health // by upstream
	udp, tcp    *dns.Client
	timeout     time.Duration
	cache       *cache // nil when disabled
	flights     group
	inflight    atomic.Int64
	waiting     atomic.Int64 // coalesced queries waiting on a flight
	maxWaiting  int64
	maxInflight int64
	hits        atomic.Uint64
	misses      atomic.Uint64
	failures    atomic.Uint64
	stale       atomic.Uint64
	log         *logrus.Entry
	now         func() time.Time
}

// New builds a Forwarder. It fails only on invalid configuration; having no
// usable upstream is valid and leaves the Forwarder disabled.
func New(cfg Config) (*Forwarder, error) {
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("forward: negative timeout %s", cfg.Timeout)
	case cfg.CacheSize < 0:
		return nil, fmt.Errorf("forward: negative cache size %d", cfg.CacheSize)
	case cfg.CacheMaxTTL < 0:
		return nil, fmt.Errorf("forward: negative cache max TTL %s", cfg.CacheMaxTTL)
	case cfg.ServeStale < 0:
		return nil, fmt.Errorf("forward: negative serve-stale window %s", cfg.ServeStale)
	case cfg.MaxInflight < 0:
		return nil, fmt.Errorf("forward: negative max inflight %d", cfg.MaxInflight)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CacheMaxTTL == 0 {
		cfg.CacheMaxTTL = DefaultCacheMaxTTL
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.NewEntry(logrus.StandardLogger())
	}
	ups, err := resolveUpstreams(cfg, cfg.Logger)
	if err != nil {
		return nil, err // it names the setting
	}
	f := &Forwarder{
		upstreams:   ups,
		udp:         &dns.Client{Net: "udp", Timeout: cfg.Timeout},
		tcp:         &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		timeout:     cfg.Timeout,
		maxInflight: int64(cfg.MaxInflight),
		maxWaiting:  max(int64(cfg.MaxInflight)*waitersPerExchange, minWaiting),
		log:         cfg.Logger,
		now:         time.Now,
	}
	for _, u := range ups {
		f.addrs = append(f.addrs, u.String())
	}
	f.health = make([]health, len(ups))
	if cfg.CacheSize > 0 {
		f.cache = newCache(cfg.CacheSize, cfg.CacheMaxTTL, cfg.ServeStale)
	}
	return f, nil
}

// Enabled reports whether there is any upstream to forward to.
func (f *Forwarder) Enabled() bool { return len(f.upstreams) > 0 }

// Upstreams returns the upstreams in the configured order, the order they
// are tried in while all are up (see fetch).
func (f *Forwarder) Upstreams() []netip.AddrPort {
	return append([]netip.AddrPort(nil), f.upstreams...)
}

// Exchange forwards the client's query q and returns the reply to send: it
// carries q's ID and question (in the client's case), an OPT record when q
// had one, and fits the client's UDP size unless tcp says the client came
// over TCP. The reply may share resource records with other replies; callers
// must not modify its records.
//
// Exchange returns ErrOverloaded at once when MaxInflight upstream exchanges
// are under way, ErrNoUpstreams when not Enabled, and an error when every
// upstream failed (timeout, network error, SERVFAIL or REFUSED).
func (f *Forwarder) Exchange(ctx context.Context, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, ErrNoUpstreams
	}
	if q.Opcode != dns.OpcodeQuery {
		return new(dns.Msg).SetRcode(q, dns.RcodeNotImplemented), nil
	}
	if len(q.Question) != 1 {
		return new(dns.Msg).SetRcodeFormatError(q), nil
	}
	if t := q.Question[0].Qtype; t == dns.TypeAXFR || t == dns.TypeIXFR {
		// A zone transfer is a stream, not one exchange; it is not proxied.
		return new(dns.Msg).SetRcode(q, dns.RcodeRefused), nil
	}
	r := newRequest(q, tcp)
	if f.cache != nil {
		if e, v := f.cache.get(r.key, f.now()); e != nil {
			f.hits.Add(1)
			return r.reply(&e.hdr, v.answer, v.ns, v.extra, e.size), nil
		}
		f.misses.Add(1)
	}

	fl, leader := f.flights.join(r.key)
	if !leader {
		// A waiter holds a goroutine for up to one exchange: bound them
		// all, so that a flood of one name at a dead upstream cannot pile
		// them up at the query rate.
		if f.waiting.Add(1) > f.maxWaiting {
			f.waiting.Add(-1)
			return nil, ErrOverloaded
		}
		res, err := fl.wait(ctx)
		f.waiting.Add(-1)
		if err != nil {
			return nil, err
		}
		return r.replyFrom(res)
	}
	return r.replyFrom(f.lead(ctx, &r, fl))
}

// Stats are the forwarder's counters since it started.
type Stats struct {
	CacheEntries int
	CacheHits    uint64
	CacheMisses  uint64
	// Failures counts queries no upstream answered.
	Failures uint64
	// Stale counts those of them answered from an expired cache entry.
	Stale    uint64
	Inflight int64
}

// Stats returns the current counters.
func (f *Forwarder) Stats() Stats {
	st := Stats{CacheHits: f.hits.Load(), CacheMisses: f.misses.Load(), Failures: f.failures.Load(), Stale: f.stale.Load(), Inflight: f.inflight.Load()}
	if f.cache != nil {
		st.CacheEntries = f.cache.len()
	}
	return st
}

var errLeaderAborted = errors.New("forward: coalesced query aborted")

// lead does the upstream work for a flight of identical queries and hands
// the result to every waiter, even if it panics.
func (f *Forwarder) lead(ctx context.Context, r *request, fl *flight) (res result) {
	res.err = errLeaderAborted
	defer func() { f.flights.finish(r.key, fl, res) }()

	if f.inflight.Add(1) > f.maxInflight {
		f.inflight.Add(-1)
		return result{err: ErrOverloaded}
	}
	defer f.inflight.Add(-1)

	// A flight that ended between our cache miss and joining has filled it.
	if f.cache != nil {
		if e, v := f.cache.get(r.key, f.now()); e != nil {
			return result{entry: e, view: v}
		}
	}
	// Waiters share this exchange, so one client hanging up must not
	// cancel it; each try is bounded by the timeout instead.
	m, err := f.fetch(context.WithoutCancel(ctx), r)
	if err != nil {
		f.failures.Add(1)
		if f.cache != nil {
			if e, v := f.cache.getStale(r.key, f.now()); e != nil {
				f.stale.Add(1)
				return result{entry: e, view: v}
			}
		}
		return result{err: err}
	}
	stripOPT(m)
	if f.cache != nil {
		if e, v := f.cache.put(r.key, m, f.now()); e != nil {
			return result{entry: e, view: v}
		}
	}
	return result{msg: m}
}

// request is what Exchange needs to know about a client's query.
type request struct {
	q    *dns.Msg
	key  key
	tcp  bool
	edns bool
	size uint16 // client's advertised EDNS0 UDP size
}

func newRequest(q *dns.Msg, tcp bool) request {
	qq := q.Question[0]
	r := request{
		q:   q,
		tcp: tcp,
		key: key{
			name:   strings.ToLower(qq.Name),
			qtype:  qq.Qtype,
			qclass: qq.Qclass,
			cd:     q.CheckingDisabled,
		},
	}
	if opt := q.IsEdns0(); opt != nil {
		r.edns = true
		r.size = opt.UDPSize()
		r.key.do = opt.Do()
	}
	return r
}

// udpSize is the largest reply the client accepts over UDP.
func (r *request) udpSize() int {
	if !r.edns || r.size < dns.MinMsgSize {
		return dns.MinMsgSize
	}
	return int(r.size)
}

// upstreamQuery is the query sent upstream: the lower-cased question, the
// client's CD bit, EDNS0 size and DO bit, and none of its other options.
func (r *request) upstreamQuery() *dns.Msg {
	m := &dns.Msg{
		MsgHdr: dns.MsgHdr{
			Opcode:           dns.OpcodeQuery,
			RecursionDesired: true,
			CheckingDisabled: r.key.cd,
		},
		Question: []dns.Question{{Name: r.key.name, Qtype: r.key.qtype, Qclass: r.key.qclass}},
	}
	if r.edns {
		m.SetEdns0(uint16(r.udpSize()), r.key.do)
	}
	return m
}

package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
)

// A Forwarder resolves names that are not in the registry. Exchange
// returns the reply for the client's query q, with q's ID and question.
type Forwarder interface {
	Exchange(ctx context.Context, q *dns.Msg, tcp bool) (*dns.Msg, error)
}

// Path says how a query was answered, for metrics.
type Path uint8

// The paths a query takes.
const (
	PathZone      Path = iota // answered from the registry
	PathForwarded             // answered by an upstream
	PathRefused               // outside the zone and not forwarded
	PathError                 // malformed, unsupported, or failed
	numPaths
)

func (p Path) String() string {
	return [...]string{"zone", "forwarded", "refused", "error"}[p]
}

// An Observer is told about every reply; it must be cheap and safe for
// concurrent use (metrics, query logs).
type Observer interface {
	Observe(ev *Event)
}

// Event describes one answered query. It is reused after Observe returns.
type Event struct {
	Client    netip.AddrPort
	TCP       bool
	Name      []byte // lower-case question name, no trailing dot; nil when unreadable
	Qtype     uint16
	Rcode     int
	Path      Path
	Answers   int
	Size      int
	Truncated bool
	Took      time.Duration
}

// A Transferer serves zone transfers (server/transfer.Transfer): AXFR and
// IXFR, and the apex of the reverse zones it transfers.
type Transferer interface {
	// ServeTCP writes the reply to a transfer query to conn; false
	// closes the connection.
	ServeTCP(conn net.Conn, msg []byte, client netip.AddrPort) bool
	// AnswerUDP returns the reply to a transfer query over UDP.
	AnswerUDP(msg []byte, client netip.AddrPort) []byte
	// Apex finds key in a transferred reverse zone: inZone says it is in
	// one, apex that it is its apex, with the apex's SOA and NS packed
	// behind a question, and soaFull the SOA for the authority section.
	// It must not allocate.
	Apex(key []byte) (soa []byte, ns [][]byte, soaFull []byte, inZone, apex bool)
}

// Config wires a Handler.
type Config struct {
	Store *registry.Store
	// Forwarder answers names outside the registry; nil refuses them.
	Forwarder Forwarder
	// AllowRecursion says which clients may have names forwarded; nil
	// allows every client.
	AllowRecursion func(netip.Addr) bool
	Observer       Observer
	Log            *logrus.Entry
	// MaxUDPSize caps UDP replies, 512 to 65535 bytes, whatever larger
	// buffer a client offers; a larger answer gets TC and the client
	// retries over TCP. 0 is DefaultMaxUDPSize.
	MaxUDPSize int
	// Transfer serves zone transfers; nil refuses them.
	Transfer Transferer
}

// Handler answers DNS messages in wire format.
type Handler struct {
	cfg       Config
	zone      []byte // the domain without its trailing dot, lower case
	refuseLog sync.Once
}

// NewHandler returns a handler for cfg.
func NewHandler(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if cfg.MaxUDPSize == 0 {
		cfg.MaxUDPSize = DefaultMaxUDPSize
	}
	cfg.MaxUDPSize = min(max(cfg.MaxUDPSize, 512), 65535)
	return &Handler{cfg: cfg, zone: []byte(strings.TrimSuffix(cfg.Store.Config().Domain, "."))}
}

// scratch is one worker's buffers; a query on the zone path allocates
// nothing beyond them.
type scratch struct {
	key   [256]byte
	order []int
	out   []byte
	q     query
	r     reply
	ev    Event
	// peek answers without advancing any rotation (Resolve).
	peek bool
	// xfr marks a transfer query over TCP, for Config.Transfer.
	xfr bool
}

func newScratch() *scratch {
	return &scratch{order: make([]int, 0, 256), out: make([]byte, 0, 65535)}
}

// answer returns the reply to msg from client, or forward=true when the
// query must go to the Forwarder (see forward); a nil reply without
// forward means no reply at all.
func (h *Handler) answer(msg []byte, client netip.Addr, tcp bool, sc *scratch) (out []byte, forward bool) {
	q := &sc.q
	ev := &sc.ev
	ev.Name, ev.Answers, ev.Truncated = nil, 0, false
	sc.xfr = false
	err := parseQuery(msg, q, sc.key[:])
	switch {
	case err == errShort || err == errResponse:
		return nil, false
	case err == errNotImp:
		return h.fail(msg, sc, dns.RcodeNotImplemented), false
	case err != nil:
		return h.fail(msg, sc, dns.RcodeFormatError), false
	}
	ev.Qtype, ev.Name = q.qtype, q.key
	limit := h.limit(q, tcp)
	switch {
	case q.edns && q.version != 0:
		return h.fail(msg, sc, dns.RcodeBadVers), false
	case q.qtype == typeOPT:
		return h.fail(msg, sc, dns.RcodeFormatError), false
	case q.qclass != classIN && q.qclass != classANY,
		(q.qtype == typeAXFR || q.qtype == typeIXFR) && h.cfg.Transfer == nil:
		return h.fail(msg, sc, dns.RcodeRefused), false
	case q.qtype == typeAXFR || q.qtype == typeIXFR,
		q.tsig && h.cfg.Transfer != nil:
		// A signed query (a secondary's SOA check) is answered signed.
		return h.transfer(msg, tcp, sc), false
	}

	ra := h.recursionFor(client)
	var flags uint16
	if ra {
		flags = flagRA
	}
	snap := h.cfg.Store.Snapshot()
	if snap == nil {
		// Until the first sync any name may be ours: no guessing.
		return h.fail(msg, sc, dns.RcodeServerFailure), false
	}
	key, inZone := q.key, false
	if q.keyOK {
		if bytes.Equal(key, h.zone) {
			return h.authoritative(msg, sc, snap, snap.Apex(), limit, flags), false
		}
		if inZoneKey(key, h.zone) {
			key, inZone = key[:len(key)-len(h.zone)-1], true
		}
	}
	if h.cfg.Transfer != nil && !inZone && q.keyOK && isReverse(key) {
		if out, ok := h.reverseZone(msg, sc, snap, key, limit, flags); ok {
			return out, false
		}
	}
	var name registry.Name
	found := false
	if q.keyOK && !(inZone && isReverse(key)) {
		name, found = snap.Lookup(key)
	}
	if !found {
		if inZone || (!q.keyOK && inZoneKey(key, h.zone)) {
			return h.negative(msg, sc, snap, dns.RcodeNameError, limit, flags|flagAA), false
		}
		if h.cfg.Forwarder == nil || !ra {
			if h.cfg.Forwarder == nil {
				h.refuseLog.Do(func() {
					h.cfg.Log.Warn("refusing names outside the registry: no upstream resolver is configured (--upstream, --resolv-conf)")
				})
			}
			sc.r.start(sc.out, msg, q, limit, flags)
			ev.Path = PathRefused
			return h.finish(sc, dns.RcodeRefused), false
		}
		return nil, true
	}
	return h.authoritative(msg, sc, snap, name, limit, flags), false
}

// limit is the largest reply to q: over UDP 512 bytes without EDNS, else
// the client's buffer within 512 and MaxUDPSize; 65535 over TCP.
func (h *Handler) limit(q *query, tcp bool) int {
	switch {
	case tcp:
		return 65535
	case q.edns:
		return min(max(int(q.udpSize), 512), h.cfg.MaxUDPSize)
	}
	return 512
}

// transfer hands a transfer query, or a signed one, to Config.Transfer:
// over TCP the server's connection loop does (sc.xfr), over UDP the reply
// is at once.
func (h *Handler) transfer(msg []byte, tcp bool, sc *scratch) []byte {
	sc.ev.Path = PathZone
	if tcp {
		sc.xfr = true
		return nil
	}
	out := h.cfg.Transfer.AnswerUDP(msg, sc.ev.Client)
	if len(out) >= headerLen {
		sc.ev.Rcode, sc.ev.Size = int(out[3]&0xF), len(out)
	}
	return out
}

// reverseZone answers names in a transferred reverse zone: its apex, and
// NXDOMAIN for a name under it the registry has not; false for a name in
// no transferred zone.
func (h *Handler) reverseZone(msg []byte, sc *scratch, snap *registry.Snapshot, key []byte, limit int, flags uint16) ([]byte, bool) {
	soa, ns, soaFull, in, apex := h.cfg.Transfer.Apex(key)
	if !in {
		return nil, false
	}
	if !apex {
		if name, found := snap.Lookup(key); found {
			return h.authoritative(msg, sc, snap, name, limit, flags), true
		}
	}
	sc.r.start(sc.out, msg, &sc.q, limit, flags|flagAA)
	sc.ev.Path = PathZone
	rcode := dns.RcodeNameError
	if apex {
		rcode = dns.RcodeSuccess
		switch sc.q.qtype {
		case dns.TypeSOA:
			sc.r.answer(soa)
			return h.finish(sc, rcode), true
		case dns.TypeNS:
			for _, rr := range ns {
				sc.r.answer(rr)
			}
			return h.finish(sc, rcode), true
		}
	}
	sc.r.authority(soaFull)
	return h.finish(sc, rcode), true
}

// recursionFor says whether client may have names forwarded.
func (h *Handler) recursionFor(client netip.Addr) bool {
	if h.cfg.Forwarder == nil {
		return false
	}
	return h.cfg.AllowRecursion == nil || h.cfg.AllowRecursion(client)
}

// authoritative answers for a name the registry has.
func (h *Handler) authoritative(msg []byte, sc *scratch, snap *registry.Snapshot, name registry.Name, limit int, flags uint16) []byte {
	q := &sc.q
	var view *registry.View
	if len(name.Views()) > 1 {
		view = name.View(snap.ClientNetworks(sc.ev.Client.Addr()))
	} else {
		view = name.View(nil)
	}
	sc.r.start(sc.out, msg, q, limit, flags|flagAA)
	sc.ev.Path = PathZone
	if view.Empty() {
		return h.negative(msg, sc, snap, dns.RcodeSuccess, limit, flags|flagAA)
	}
	if q.qtype == typeANY {
		sc.r.answer(snap.ANY())
		return h.finish(sc, dns.RcodeSuccess)
	}
	set := view.Set(q.qtype)
	if set == nil || set.Len() == 0 {
		return h.negative(msg, sc, snap, dns.RcodeSuccess, limit, flags|flagAA)
	}
	sc.order = sc.r.rrset(set, sc.order, sc.peek)
	return h.finish(sc, dns.RcodeSuccess)
}

// negative answers NXDOMAIN or NODATA with the zone's SOA in authority.
func (h *Handler) negative(msg []byte, sc *scratch, snap *registry.Snapshot, rcode int, limit int, flags uint16) []byte {
	sc.r.start(sc.out, msg, &sc.q, limit, flags)
	sc.r.authority(snap.SOA())
	sc.ev.Path = PathZone
	return h.finish(sc, rcode)
}

// fail answers with rcode and no records, echoing the question when it
// could be read.
func (h *Handler) fail(msg []byte, sc *scratch, rcode int) []byte {
	sc.r.start(sc.out, msg, &sc.q, 65535, 0)
	sc.ev.Path = PathError
	if rcode == dns.RcodeRefused {
		sc.ev.Path = PathRefused
	}
	return h.finish(sc, rcode)
}

func (h *Handler) finish(sc *scratch, rcode int) []byte {
	out := sc.r.finish(&sc.q, rcode)
	sc.out = out[:0]
	sc.ev.Rcode, sc.ev.Answers, sc.ev.Size, sc.ev.Truncated = rcode, sc.r.an, len(out), sc.r.tc
	return out
}

var errNoUpstream = errors.New("no upstream answered")

// forwardQuery sends a query that answer passed on to the Forwarder and
// returns the reply to send; it runs off the read loop.
func (h *Handler) forwardQuery(ctx context.Context, msg []byte, tcp bool, sc *scratch) []byte {
	q := &sc.q
	if err := parseQuery(msg, q, sc.key[:]); err != nil {
		return nil // answer parsed it already; it cannot fail now
	}
	sc.ev.Qtype, sc.ev.Name = q.qtype, q.key
	limit := h.limit(q, tcp)
	req := new(dns.Msg)
	if err := req.Unpack(msg); err != nil {
		return h.fail(msg, sc, dns.RcodeFormatError)
	}
	resp, err := h.cfg.Forwarder.Exchange(ctx, req, tcp)
	if err == nil && resp == nil {
		err = errNoUpstream
	}
	if err != nil {
		h.cfg.Log.WithError(err).WithField("name", string(q.key)).Debug("forward failed")
		return h.fail(msg, sc, dns.RcodeServerFailure)
	}
	resp.Id = req.Id
	resp.Response = true
	resp.RecursionAvailable = true
	resp.Question = req.Question
	resp.Truncate(limit)
	out, err := resp.PackBuffer(sc.out[:0])
	if err != nil {
		h.cfg.Log.WithError(err).WithField("name", string(q.key)).Warn("forwarded reply does not pack")
		return h.fail(msg, sc, dns.RcodeServerFailure)
	}
	sc.ev.Path, sc.ev.Rcode, sc.ev.Answers, sc.ev.Size, sc.ev.Truncated = PathForwarded, resp.Rcode, len(resp.Answer), len(out), resp.Truncated
	return out
}

var (
	inAddrArpa = []byte(".in-addr.arpa")
	ip6Arpa    = []byte(".ip6.arpa")
)

func isReverse(key []byte) bool {
	return bytes.HasSuffix(key, inAddrArpa) || bytes.HasSuffix(key, ip6Arpa)
}

// inZoneKey reports whether key ends in "."+zone.
func inZoneKey(key, zone []byte) bool {
	n := len(key) - len(zone) - 1
	return n > 0 && key[n] == '.' && bytes.Equal(key[n+1:], zone)
}

// Resolve returns what a query for name and qtype from client would be
// answered, without rotating any answer and without forwarding: names the
// registry does not have come back REFUSED, as for a client that may not
// recurse. It is for the operations API, not the query path.
func (h *Handler) Resolve(name string, qtype uint16, client netip.AddrPort) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(ourUDPSize, false)
	msg, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w", name, err)
	}
	sc := newScratch()
	sc.peek = true
	sc.ev.Client = client
	out, fwd := h.answer(msg, client.Addr(), true, sc)
	if fwd {
		sc.r.start(sc.out, msg, &sc.q, 65535, 0)
		out = h.finish(sc, dns.RcodeRefused)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		return nil, fmt.Errorf("resolve %q: unpack answer: %w", name, err)
	}
	return resp, nil
}

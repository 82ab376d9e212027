package transfer

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
)

// Config says which zones are transferred, to whom, and where NOTIFY goes.
type Config struct {
	// Reverse are the reverse zones transferred besides the domain, as
	// prefixes on an octet (IPv4) or nibble (IPv6) boundary.
	Reverse []netip.Prefix
	// Allow lists the client prefixes that may transfer; empty: none.
	Allow []netip.Prefix
	// Keys, when not empty, are required: a transfer must be signed by
	// one of them (TSIG).
	Keys []Key
	// Notify are the secondaries sent NOTIFY on every serial change.
	Notify []netip.AddrPort
	// StateFile keeps each zone's serial across restarts; "" keeps none.
	StateFile string
	// MaxTransfers bounds transfers under way at once (default 4); more
	// are refused.
	MaxTransfers int
	// Timeout bounds one transfer (default 60 s): a client that reads
	// slower loses its connection.
	Timeout time.Duration
	// NotifyInterval is the least time between two NOTIFY of a zone to a
	// secondary (default 1 s); the newest serial wins.
	NotifyInterval time.Duration
	Log            *logrus.Entry
}

// Transfer serves the zones of the published snapshots to secondaries.
type Transfer struct {
	cfg     Config
	reverse []string
	keys    map[string]*Key
	slots   chan struct{}
	cur     atomic.Pointer[state]
	stored  map[string]zoneState // read from the state file at start
	refused sync.Map             // refusal{} → true: logged once
	refuseN atomic.Int64
	notify  *notifier
	whole   bool             // every version is computed from the whole snapshot (for tests)
	now     func() time.Time // the clock of serials
}

// state is the zones of one snapshot with their histories; immutable.
type state struct {
	zones []*zone
	hist  []history // by zone
	apex  []apex    // by zone; the reverse zones' apex answers
	// snap is the snapshot the zones are of, and anchor the version later
	// ones are layered over (layered.go).
	snap   *registry.Snapshot
	anchor *anchor
}

// apex is what the query path answers at a reverse zone's apex.
type apex struct {
	key []byte   // origin, lower case, no trailing dot
	soa []byte   // the SOA packed behind a question pointer
	ns  [][]byte // the NS records, likewise
}

// Stats is what one transfer sent, for logs and benchmarks.
type Stats struct {
	Messages, Records, Bytes int
}

// New checks cfg and reads the state file.
func New(cfg Config) (*Transfer, error) {
	if cfg.MaxTransfers <= 0 {
		cfg.MaxTransfers = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.NotifyInterval <= 0 {
		cfg.NotifyInterval = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	t := &Transfer{cfg: cfg, keys: map[string]*Key{}, slots: make(chan struct{}, cfg.MaxTransfers), now: time.Now}
	for _, p := range cfg.Reverse {
		z, ok := ReverseZone(p)
		if !ok {
			return nil, fmt.Errorf("--transfer-reverse %s: a reverse zone needs a prefix on an octet (IPv4) or nibble (IPv6) boundary", p)
		}
		t.reverse = append(t.reverse, z)
	}
	for i := range cfg.Keys {
		t.keys[cfg.Keys[i].Name] = &cfg.Keys[i]
	}
	var err error
	if t.stored, err = readState(cfg.StateFile); err != nil {
		return nil, err
	}
	t.notify = newNotifier(t)
	return t, nil
}

// Serial computes the transferred zones of a built snapshot, keeps them
// and returns the domain zone's serial. It is registry.Config.Serial.
func (t *Transfer) Serial(snap *registry.Snapshot) uint32 {
	prev := t.cur.Load()
	zs := newZoneSet(snap.Domain, t.reverse)
	var v *version
	ok := false
	if !t.whole {
		v, ok = zs.derive(prev, snap)
	}
	if !ok {
		var prevZones []*zone
		if prev != nil {
			prevZones = prev.zones
		}
		v = zs.whole(snap, prevZones)
	}
	next := &state{zones: v.zones, hist: make([]history, len(v.zones)), apex: make([]apex, len(v.zones)),
		snap: snap, anchor: v.anchor}
	soa := soaOf(snap)
	var nsRecs [][]byte
	if ns := snap.Apex().Views()[0].Set(dns.TypeNS); ns != nil {
		for i := 0; i < ns.Len(); i++ {
			nsRecs = append(nsRecs, ns.Record(i))
		}
	}
	now, changed := t.now(), false
	for i, z := range v.zones {
		var old *zone
		if prev != nil {
			old = zoneFor(prev.zones, z.origin)
			for j := range prev.zones {
				if prev.zones[j] == old {
					next.hist[i] = prev.hist[j]
				}
			}
		}
		var d *diff
		if v.diffs != nil {
			d = v.diffs[i]
		}
		if t.serialize(next, i, old, d, soa, now) {
			changed = true
		}
		if i > 0 {
			z = next.zones[i]
			next.apex[i] = apex{key: []byte(z.origin[:len(z.origin)-1]), soa: behindQuestion(z.soa), ns: nsRecs}
		}
	}
	if changed && t.cfg.StateFile != "" {
		if err := writeState(t.cfg.StateFile, t.stored); err != nil {
			t.cfg.Log.WithError(err).Error("zone serials not saved: a restart may reuse them")
		}
	}
	t.cur.Store(next)
	return next.zones[0].serial
}

// soaOf returns the snapshot's SOA, the template of every zone's.
func soaOf(snap *registry.Snapshot) *dns.SOA {
	soaRR, _, err := dns.UnpackRR(snap.SOA(), 0)
	soa, ok := soaRR.(*dns.SOA)
	if err != nil || !ok {
		soa = &dns.SOA{Hdr: dns.RR_Header{Name: snap.Domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Ns: "ns." + snap.Domain, Mbox: "hostmaster." + snap.Domain}
	}
	return soa
}

// serialize gives zone i of next its serial and SOA: old's when its
// records are old's, the stored one at start when they are the stored
// ones, else the next serial, with the difference from old (d, when the
// version was derived from old) in the history. It reports whether the
// serial changed.
func (t *Transfer) serialize(next *state, i int, old *zone, d *diff, soa *dns.SOA, now time.Time) bool {
	z := next.zones[i]
	st, stored := t.stored[z.origin]
	switch {
	case old != nil && d != nil && len(d.removed) == 0 && len(d.added) == 0:
		next.zones[i] = old
		return false
	case old != nil && d == nil && old.hash == z.hash:
		// The same records, computed anew: kept, not old's (which may be
		// layered over records no longer held).
		z.serial, z.soa = old.serial, old.soa
		return false
	case old == nil && stored && z.base == nil && st.matches(z.recs):
		z.serial = st.Serial
		z.setSOA(soa)
		return false
	}
	last := st.Serial
	if old != nil {
		last = old.serial
	}
	z.serial = nextSerial(last, now)
	z.setSOA(soa)
	if old != nil {
		if d == nil {
			d = diffOf(old, z)
		}
		d.from, d.to, d.fromSOA, d.toSOA = old.serial, z.serial, old.soa, z.soa
		next.hist[i].add(d)
	}
	t.stored[z.origin] = zoneState{Serial: z.serial, Records: z.hash.String()}
	t.notify.pending(z.origin, z.serial)
	return true
}

// Published sends the NOTIFY that the snapshot's serials call for; call it
// once the snapshot is published (registry.Store.OnPublish).
func (t *Transfer) Published() { t.notify.kick() }

// behindQuestion returns rr with its owner replaced by a pointer to the
// question name.
func behindQuestion(rr []byte) []byte {
	_, rest := splitOwner(string(rr))
	return append([]byte{0xC0, 0x0C}, rest...)
}

// Apex returns the SOA and NS records of the reverse zone whose origin is
// key (lower case, no trailing dot), packed behind a question pointer,
// and the SOA with its owner for a negative answer's authority; ok is
// false when key is not a transferred reverse zone's apex. zone reports
// whether key is in one at all. Allocation-free.
func (t *Transfer) Apex(key []byte) (soa []byte, ns [][]byte, soaFull []byte, inZone, ok bool) {
	st := t.cur.Load()
	if st == nil {
		return nil, nil, nil, false, false
	}
	for i := 1; i < len(st.apex); i++ {
		a := &st.apex[i]
		if string(key) == string(a.key) {
			return a.soa, a.ns, st.zones[i].soa, true, true
		}
		if n := len(key) - len(a.key) - 1; n > 0 && key[n] == '.' && string(key[n+1:]) == string(a.key) {
			return nil, nil, st.zones[i].soa, true, false
		}
	}
	return nil, nil, nil, false, false
}

// refusal is one client's reason to be refused, logged once.
type refusal struct {
	client netip.Addr
	reason string
}

// maxRefusalsLogged bounds the memory of refusals already logged.
const maxRefusalsLogged = 4096

func (t *Transfer) refuse(client netip.Addr, zone, reason string) {
	key := refusal{client, reason}
	if _, seen := t.refused.Load(key); seen {
		return
	}
	if t.refuseN.Add(1) > maxRefusalsLogged {
		t.refused.Clear()
		t.refuseN.Store(1)
	}
	t.refused.Store(key, true)
	t.cfg.Log.WithFields(logrus.Fields{"client": client.String(), "zone": zone, "reason": reason}).Warn("zone transfer refused (logged once per client and reason)")
}

// request is a parsed transfer query.
type request struct {
	msg      *dns.Msg
	qend     int
	zone     *zone
	z        int // index of zone in the state
	st       *state
	serial   uint32 // IXFR: the client's serial
	hasSOA   bool
	sign     *signer
	rcode    int
	tsigErr  uint16
	reason   string
	tsigName string
}

// check parses a transfer query from client and decides whether it may
// have the zone; r.rcode is the error to answer when not.
func (t *Transfer) check(raw []byte, client netip.Addr, now time.Time) *request {
	r := &request{msg: new(dns.Msg)}
	if err := r.msg.Unpack(raw); err != nil || len(r.msg.Question) != 1 {
		r.rcode, r.reason = dns.RcodeFormatError, "malformed query"
		return r
	}
	if r.qend = questionEnd(raw); r.qend < 0 {
		// A pointer in the question (the server refuses these before):
		// the reply cannot echo it.
		r.qend, r.rcode, r.reason = 0, dns.RcodeFormatError, "malformed query"
		return r
	}
	q := r.msg.Question[0]
	r.st = t.cur.Load()
	if r.st != nil {
		for i, z := range r.st.zones {
			if dns.CanonicalName(q.Name) == z.origin {
				r.zone, r.z = z, i
			}
		}
	}
	if q.Qtype == dns.TypeIXFR {
		for _, rr := range r.msg.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				r.serial, r.hasSOA = soa.Serial, true
			}
		}
	}
	allowed := false
	for _, p := range t.cfg.Allow {
		if p.Contains(client.Unmap()) {
			allowed = true
		}
	}
	ts := r.msg.IsTsig()
	switch {
	case !allowed:
		r.rcode, r.reason = dns.RcodeRefused, "client not in --transfer-allow"
		return r
	case ts != nil:
		k := t.keys[dns.CanonicalName(ts.Hdr.Name)]
		if k == nil || dns.CanonicalName(ts.Algorithm) != k.Algorithm {
			r.rcode, r.tsigErr, r.reason, r.tsigName = dns.RcodeNotAuth, dns.RcodeBadKey, "unknown TSIG key "+ts.Hdr.Name, ts.Hdr.Name
			return r
		}
		err := dns.TsigVerify(raw, k.Secret(), "", false)
		mac, _ := hex.DecodeString(ts.MAC)
		switch {
		case errors.Is(err, dns.ErrTime):
			r.rcode, r.tsigErr, r.reason = dns.RcodeNotAuth, dns.RcodeBadTime, "TSIG time outside the fudge"
			r.sign = &signer{key: k, mac: mac, err: dns.RcodeBadTime, other: timeBytes(now)}
			return r
		case err != nil:
			r.rcode, r.tsigErr, r.reason, r.tsigName = dns.RcodeNotAuth, dns.RcodeBadSig, "bad TSIG signature with key "+k.Name, k.Name
			return r
		}
		r.sign = &signer{key: k, mac: mac}
	case len(t.keys) > 0:
		r.rcode, r.reason = dns.RcodeRefused, "no TSIG signature"
		return r
	}
	if r.zone == nil {
		r.rcode, r.reason = dns.RcodeNotAuth, "not a transferred zone"
		return r
	}
	return r
}

func timeBytes(now time.Time) []byte {
	u := uint64(now.Unix())
	return []byte{byte(u >> 40), byte(u >> 32), byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
}

// questionEnd returns the end of the question of a parsed message, or -1
// when its name is compressed.
func questionEnd(msg []byte) int {
	off := 12
	for off < len(msg) && msg[off] != 0 {
		if msg[off]&0xC0 != 0 {
			return -1
		}
		off += 1 + int(msg[off])
	}
	return off + 1 + 4
}

// errorReply is the reply to a refused request: the question, the rcode,
// and for a TSIG error a TSIG record saying which.
func (t *Transfer) errorReply(raw []byte, r *request, now time.Time) []byte {
	w := &stream{}
	w.start(raw, r.qend, r.rcode)
	out := w.buf
	switch {
	case r.sign != nil:
		out = r.sign.sign(out, now)
	case r.tsigErr != 0:
		out = unsignedTSIG(out, r.tsigName, r.msg.IsTsig(), r.tsigErr)
	}
	return out
}

// unsignedTSIG appends a TSIG record with an empty MAC (BADKEY, BADSIG:
// RFC 8945 section 5.3.2).
func unsignedTSIG(msg []byte, name string, req *dns.TSIG, tsigErr uint16) []byte {
	rr := &dns.TSIG{Hdr: dns.RR_Header{Name: dns.CanonicalName(name), Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm: dns.Fqdn(req.Algorithm), TimeSigned: req.TimeSigned, Fudge: req.Fudge, OrigId: req.OrigId, Error: tsigErr}
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return msg
	}
	out := append(append([]byte(nil), msg...), buf[:n]...)
	out[11]++
	// A key or algorithm name that does not pack back the way it came
	// (the request's own was malformed) leaves the TSIG out.
	if new(dns.Msg).Unpack(out) != nil {
		return msg
	}
	return out
}

// ServeTCP answers an AXFR or IXFR query read from conn: the whole reply,
// in as many messages as it takes (a signed SOA query: its one message). It returns false when the connection
// must close.
func (t *Transfer) ServeTCP(conn net.Conn, raw []byte, client netip.AddrPort) bool {
	now := time.Now()
	r := t.check(raw, client.Addr(), now)
	if r.rcode == dns.RcodeSuccess && r.msg.Question[0].Qtype != dns.TypeAXFR && r.msg.Question[0].Qtype != dns.TypeIXFR {
		// A signed SOA query: the same answer as over UDP.
		conn.SetWriteDeadline(now.Add(t.cfg.Timeout))
		return writeFramed(conn, t.AnswerUDP(raw, client)) == nil
	}
	if r.rcode == dns.RcodeSuccess {
		select {
		case t.slots <- struct{}{}:
			defer func() { <-t.slots }()
		default:
			r.rcode, r.reason = dns.RcodeRefused, fmt.Sprintf("more than %d transfers at once", t.cfg.MaxTransfers)
		}
	}
	conn.SetWriteDeadline(now.Add(t.cfg.Timeout))
	if r.rcode != dns.RcodeSuccess {
		t.refuse(client.Addr(), zoneName(r), r.reason)
		return writeFramed(conn, t.errorReply(raw, r, now)) == nil
	}
	st, err := t.send(conn, raw, r)
	log := t.cfg.Log.WithFields(logrus.Fields{
		"client": client.String(), "zone": r.zone.origin, "type": dns.TypeToString[r.msg.Question[0].Qtype],
		"serial": r.zone.serial, "messages": st.Messages, "records": st.Records, "bytes": st.Bytes,
		"took": time.Since(now).String(),
	})
	if err != nil {
		log.WithError(err).Warn("zone transfer cut off")
		return false
	}
	log.Info("zone transferred")
	return true
}

func zoneName(r *request) string {
	if len(r.msg.Question) == 1 {
		return r.msg.Question[0].Name
	}
	return ""
}

// AnswerUDP answers an AXFR, IXFR or signed query that came over UDP:
// an IXFR gets the zone's SOA alone (up to date, or retry over TCP: RFC
// 1995 section 2), as does a signed SOA query (a secondary's refresh); an
// AXFR gets NOTIMP; refusals as over TCP.
func (t *Transfer) AnswerUDP(raw []byte, client netip.AddrPort) []byte {
	now := time.Now()
	r := t.check(raw, client.Addr(), now)
	if r.rcode == dns.RcodeSuccess {
		switch r.msg.Question[0].Qtype {
		case dns.TypeAXFR:
			r.rcode, r.reason = dns.RcodeNotImplemented, "AXFR over UDP"
		case dns.TypeIXFR, dns.TypeSOA:
		default:
			r.rcode, r.reason = dns.RcodeRefused, "a signed query other than SOA, AXFR or IXFR"
		}
	}
	if r.rcode != dns.RcodeSuccess {
		t.refuse(client.Addr(), zoneName(r), r.reason)
		return t.errorReply(raw, r, now)
	}
	w := &stream{sign: r.sign}
	w.start(raw, r.qend, dns.RcodeSuccess)
	w.buf = append(w.buf, r.zone.soa...)
	w.an++
	return w.finish(now)
}

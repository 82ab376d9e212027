package transfer

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
)

// NOTIFY (RFC 1996) goes to every secondary on each serial change of a
// zone, at most once per NotifyInterval per zone and secondary: changes
// that come faster are folded into one NOTIFY for the newest serial. A
// NOTIFY unanswered is sent again after 1, 2, 4 and 8 s, then given up
// (the secondary's refresh timer still finds the change).
var notifyRetries = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

type notifier struct {
	t       *Transfer
	mu      sync.Mutex
	pend    map[string]uint32 // zone → serial, not yet published
	workers []*notifyWorker
}

// notifyWorker sends the NOTIFY of one secondary.
type notifyWorker struct {
	n      *notifier
	target netip.AddrPort
	mu     sync.Mutex
	want   map[string]uint32 // zone → newest serial to announce
	wake   chan struct{}
	last   map[string]time.Time
}

func newNotifier(t *Transfer) *notifier {
	n := &notifier{t: t, pend: map[string]uint32{}}
	for _, a := range t.cfg.Notify {
		n.workers = append(n.workers, &notifyWorker{n: n, target: a, want: map[string]uint32{}, wake: make(chan struct{}, 1), last: map[string]time.Time{}})
	}
	return n
}

// pending records a zone's new serial, sent by the next kick.
func (n *notifier) pending(zone string, serial uint32) {
	n.mu.Lock()
	n.pend[zone] = serial
	n.mu.Unlock()
}

// kick hands the pending serials to every worker.
func (n *notifier) kick() {
	n.mu.Lock()
	pend := n.pend
	n.pend = map[string]uint32{}
	n.mu.Unlock()
	if len(pend) == 0 {
		return
	}
	for _, w := range n.workers {
		w.mu.Lock()
		for z, s := range pend {
			w.want[z] = s
		}
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Start sends NOTIFY until ctx is done.
func (t *Transfer) Start(ctx context.Context) {
	for _, w := range t.notify.workers {
		go w.run(ctx)
	}
}

func (w *notifyWorker) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		for {
			zone, serial, ok := w.next()
			if !ok {
				break
			}
			if wait := time.Until(w.last[zone].Add(w.n.t.cfg.NotifyInterval)); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				if _, s, _ := w.peek(zone); s != serial {
					serial = s // a newer serial came meanwhile
				}
			}
			w.mu.Lock()
			delete(w.want, zone)
			w.mu.Unlock()
			w.last[zone] = time.Now()
			w.send(ctx, zone, serial)
		}
	}
}

// next returns a zone with a serial to announce.
func (w *notifyWorker) next() (string, uint32, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for z, s := range w.want {
		return z, s, true
	}
	return "", 0, false
}

func (w *notifyWorker) peek(zone string) (string, uint32, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.want[zone]
	return zone, s, ok
}

// superseded reports whether a newer serial of zone waits.
func (w *notifyWorker) superseded(zone string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.want[zone]
	return ok
}

// send sends one NOTIFY and its retries, until an answer, a newer serial
// or the last retry.
func (w *notifyWorker) send(ctx context.Context, zone string, serial uint32) {
	log := w.n.t.cfg.Log.WithFields(logrus.Fields{"secondary": w.target.String(), "zone": zone, "serial": serial})
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(w.target))
	if err != nil {
		log.WithError(err).Warn("NOTIFY not sent")
		return
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetNotify(zone)
	if soa := w.n.t.soa(zone, serial); soa != nil {
		m.Answer = []dns.RR{soa} // the new SOA, as a hint (RFC 1996 section 3.7)
	}
	buf := make([]byte, 4096)
	for try, wait := range notifyRetries {
		out, err := w.pack(m)
		if err != nil {
			log.WithError(err).Warn("NOTIFY not sent")
			return
		}
		if _, err := conn.Write(out); err != nil {
			log.WithError(err).Debug("NOTIFY not sent")
		}
		deadline := time.Now().Add(wait)
		for {
			conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				// A timeout, or nothing listening yet (an ICMP error):
				// send again once the wait is over.
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(deadline)):
				}
				break
			}
			var r dns.Msg
			if r.Unpack(buf[:n]) != nil || r.Id != m.Id || !r.Response || r.Opcode != dns.OpcodeNotify {
				continue
			}
			if r.Rcode != dns.RcodeSuccess {
				log.WithField("rcode", dns.RcodeToString[r.Rcode]).Warn("secondary refused NOTIFY")
				return
			}
			log.WithField("tries", try+1).Debug("NOTIFY answered")
			return
		}
		if ctx.Err() != nil || w.superseded(zone) {
			return
		}
	}
	log.Warn("NOTIFY unanswered after every retry; the secondary's refresh timer will find the change")
}

// pack packs a NOTIFY, signed with the first TSIG key when there are keys.
func (w *notifyWorker) pack(m *dns.Msg) ([]byte, error) {
	keys := w.n.t.cfg.Keys
	if len(keys) == 0 {
		return m.Pack()
	}
	m.Extra = nil
	m.SetTsig(keys[0].Name, keys[0].Algorithm, tsigFudge, time.Now().Unix())
	out, _, err := dns.TsigGenerate(m, keys[0].Secret(), "", false)
	return out, err
}

// soa returns the SOA of zone at serial, or nil when that is no longer
// the current one.
func (t *Transfer) soa(zone string, serial uint32) dns.RR {
	st := t.cur.Load()
	if st == nil {
		return nil
	}
	z := zoneFor(st.zones, zone)
	if z == nil || z.serial != serial {
		return nil
	}
	rr, _, err := dns.UnpackRR(z.soa, 0)
	if err != nil {
		return nil
	}
	return rr
}

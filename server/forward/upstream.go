package forward

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
)

// Upstream health: an upstream that timed out or could not be reached is
// down for a while, 1 s doubling with every failure in a row up to 30 s,
// and is tried after the upstreams that are up until then. So a dead first
// upstream costs one timeout, not one per query. When every upstream is
// down they are all still tried, in order. Any reply from an upstream,
// even SERVFAIL or REFUSED (which only move the query on), means it is up.
const (
	downFirst = time.Second
	downMax   = 30 * time.Second
)

type health struct {
	downUntil atomic.Int64 // unix ns; 0 when up
	fails     atomic.Int32 // timeouts and network errors in a row
}

// order returns the upstreams' indices, those up first, each group in
// the configured order, appended to dst.
func (f *Forwarder) order(dst []int, now time.Time) []int {
	t := now.UnixNano()
	for i := range f.health {
		if f.health[i].downUntil.Load() <= t {
			dst = append(dst, i)
		}
	}
	for i := range f.health {
		if f.health[i].downUntil.Load() > t {
			dst = append(dst, i)
		}
	}
	return dst
}

// noteReply records that upstream i replied.
func (f *Forwarder) noteReply(i int) {
	h := &f.health[i]
	if h.fails.Swap(0) > 0 {
		h.downUntil.Store(0)
		f.log.WithField("upstream", f.upstreams[i]).Info("forward: upstream answers again")
	}
}

// noteFailure records that upstream i timed out or could not be reached.
func (f *Forwarder) noteFailure(i int, err error) {
	h := &f.health[i]
	n := h.fails.Add(1)
	down := downFirst << min(n-1, 5)
	down = min(down, downMax)
	h.downUntil.Store(f.now().Add(down).UnixNano())
	if n == 1 {
		f.log.WithFields(logrus.Fields{"upstream": f.upstreams[i], "tried_last_for": down}).WithError(err).
			Warn("forward: upstream down")
	}
}

// fetch asks the upstreams, those up first, until one answers usefully.
// Timeouts, network errors, SERVFAIL, REFUSED and mismatched replies move
// on to the next upstream.
func (f *Forwarder) fetch(ctx context.Context, r *request) (*dns.Msg, error) {
	q := r.upstreamQuery()
	var errs []error
	var buf [8]int
	for _, i := range f.order(buf[:0], f.now()) {
		addr := f.addrs[i]
		m, err := f.ask(ctx, addr, q, r.tcp)
		var rc rcodeError
		switch {
		case err == nil, errors.As(err, &rc), errors.Is(err, errQuestionMismatch):
			f.noteReply(i)
		case ctx.Err() == nil:
			f.noteFailure(i, err)
		}
		if err == nil {
			return m, nil
		}
		err = fmt.Errorf("%s: %w", addr, err)
		errs = append(errs, err)
		if f.log.Logger.IsLevelEnabled(logrus.DebugLevel) {
			f.log.WithFields(logrus.Fields{"name": r.key.name, "type": dns.Type(r.key.qtype), "upstream": f.upstreams[i]}).
				WithError(err).Debug("forward: upstream failed")
		}
	}
	return nil, fmt.Errorf("forward: every upstream failed: %w", errors.Join(errs...))
}

// ask queries one upstream: over UDP, then over TCP if the reply was
// truncated; over TCP only when the client came over TCP.
func (f *Forwarder) ask(ctx context.Context, addr string, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	if !tcp {
		m, err := f.try(ctx, f.udp, addr, q)
		if err != nil {
			return nil, err
		}
		if !m.Truncated {
			return m, nil
		}
	}
	return f.try(ctx, f.tcp, addr, q)
}

// rcodeError is an upstream answer that means "ask someone else".
type rcodeError int

func (e rcodeError) Error() string { return "answered " + dns.RcodeToString[int(e)] }

var errQuestionMismatch = errors.New("reply is for another question")

// try makes one exchange under the per-try timeout.
func (f *Forwarder) try(ctx context.Context, c *dns.Client, addr string, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	q.Id = dns.Id()
	m, _, err := c.ExchangeContext(ctx, q, addr)
	if err != nil {
		return nil, err
	}
	if m.Rcode == dns.RcodeServerFailure || m.Rcode == dns.RcodeRefused {
		return nil, rcodeError(m.Rcode)
	}
	if len(m.Question) > 0 {
		got, want := m.Question[0], q.Question[0]
		if got.Qtype != want.Qtype || got.Qclass != want.Qclass || !strings.EqualFold(got.Name, want.Name) {
			return nil, errQuestionMismatch
		}
	}
	return m, nil
}

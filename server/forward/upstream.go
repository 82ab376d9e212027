package forward

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
)

// fetch asks each upstream in order until one answers usefully. Timeouts,
// network errors, SERVFAIL, REFUSED and mismatched replies move on to the
// next upstream.
func (f *Forwarder) fetch(ctx context.Context, r *request) (*dns.Msg, error) {
	q := r.upstreamQuery()
	var errs []error
	for i, addr := range f.addrs {
		m, err := f.ask(ctx, addr, q, r.tcp)
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

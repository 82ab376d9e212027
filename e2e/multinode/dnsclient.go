//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Poller asks one DNS server from a UDP socket made inside a network
// namespace (a container's: ContainerNetns, or a node's), as a process there
// would, without a process per query: fast enough to poll every 50 ms. Not
// safe for concurrent use; one per poller.
type Poller struct {
	Netns, Server string // Server is host:port
	conn          *dns.Conn
}

// Close closes the resolver's socket.
func (r *Poller) Close() error {
	if r.conn == nil {
		return nil
	}
	err := r.conn.Close()
	r.conn = nil
	return err
}

// Exchange sends q and waits at most timeout for its answer; late answers
// of earlier queries are skipped by their ID.
func (r *Poller) Exchange(q *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	if r.conn == nil {
		c, err := DialIn(r.Netns)(context.Background(), "udp", r.Server)
		if err != nil {
			return nil, err
		}
		r.conn = &dns.Conn{Conn: c, UDPSize: dns.DefaultMsgSize}
	}
	deadline := time.Now().Add(timeout)
	r.conn.SetDeadline(deadline)
	if err := r.conn.WriteMsg(q); err != nil {
		r.Close()
		return nil, fmt.Errorf("ask %s from %s: %w", r.Server, r.Netns, err)
	}
	for {
		m, err := r.conn.ReadMsg()
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				r.Close() // a refused port: a new socket next time
			}
			return nil, fmt.Errorf("ask %s from %s: %w", r.Server, r.Netns, err)
		}
		if m.Id == q.Id {
			return m, nil
		}
	}
}

// Answer is what one query got: the rcode and the A records, sorted.
type Answer struct {
	Rcode int
	Addrs []netip.Addr
	Err   error
}

// String is the answer as the propagation timelines record it: the
// addresses, or the rcode or error when it has none.
func (a Answer) String() string {
	switch {
	case a.Err != nil:
		return "error"
	case a.Rcode != dns.RcodeSuccess:
		return dns.RcodeToString[a.Rcode]
	}
	s := make([]string, len(a.Addrs))
	for i, ad := range a.Addrs {
		s[i] = ad.String()
	}
	return strings.Join(s, ",")
}

// A asks for the A records of name.
func (r *Poller) A(name string, timeout time.Duration) Answer {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m, err := r.Exchange(q, timeout)
	if err != nil {
		return Answer{Err: err}
	}
	a := Answer{Rcode: m.Rcode}
	for _, rr := range m.Answer {
		if rec, ok := rr.(*dns.A); ok {
			ad, _ := netip.AddrFromSlice(rec.A)
			a.Addrs = append(a.Addrs, ad.Unmap())
		}
	}
	slices.SortFunc(a.Addrs, netip.Addr.Compare)
	return a
}

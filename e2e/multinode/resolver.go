//go:build multinode

package multinode

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Resolver asks one DNS server over UDP from a socket opened inside a
// network namespace: a node's (Node.Netns) or a container's
// (ContainerNetns). It costs no process per query, so it can poll every
// 100 ms without loading the machine. It is for one goroutine at a time.
type Resolver struct {
	pc     net.PacketConn
	server *net.UDPAddr
	buf    []byte
}

// OpenResolver opens a UDP socket in the network namespace at netns that
// asks server; Close closes it.
func OpenResolver(netns string, server netip.AddrPort) (*Resolver, error) {
	var pc net.PacketConn
	err := inNetns(netns, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", "0.0.0.0:0")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("resolver socket in %s: %w", netns, err)
	}
	return &Resolver{pc: pc, server: net.UDPAddrFromAddrPort(server), buf: make([]byte, 65535)}, nil
}

// Close closes the socket.
func (r *Resolver) Close() error { return r.pc.Close() }

// LookupA asks for the A records of name and returns them sorted; an
// answer other than NOERROR or NXDOMAIN, or none within timeout, is an
// error.
func (r *Resolver) LookupA(name string, timeout time.Duration) ([]netip.Addr, error) {
	m, err := r.Exchange(name, dns.TypeA, timeout)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			if addr, ok := netip.AddrFromSlice(a.A.To4()); ok {
				out = append(out, addr)
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// Exchange asks for the records of name of type qtype and returns the
// answer as it came, records in the server's order; an answer other than
// NOERROR or NXDOMAIN, or none within timeout, is an error.
func (r *Resolver) Exchange(name string, qtype uint16, timeout time.Duration) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	if err := r.pc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := r.pc.WriteTo(wire, r.server); err != nil {
		return nil, fmt.Errorf("ask %s for %s: %w", r.server, name, err)
	}
	for {
		n, _, err := r.pc.ReadFrom(r.buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("ask %s for %s: no answer within %s", r.server, name, timeout)
		}
		if err != nil {
			return nil, fmt.Errorf("ask %s for %s: %w", r.server, name, err)
		}
		m := new(dns.Msg)
		if m.Unpack(r.buf[:n]) != nil || m.Id != q.Id {
			continue // a late answer to an earlier question
		}
		if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
			return nil, fmt.Errorf("ask %s for %s: %s", r.server, name, dns.RcodeToString[m.Rcode])
		}
		return m, nil
	}
}

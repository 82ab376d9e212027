//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// resolver is one DNS server as one client sees it: a UDP socket connected
// to the server from the client's network namespace.
type resolver struct {
	name string
	conn *dns.Conn
}

// dialResolver opens a UDP socket to server inside the network namespace of
// pid (0: this process's own). A socket keeps the namespace it was created
// in, so only the socket() call runs on a thread moved into the namespace;
// this is what `nsenter -t pid -n dig @server` does, without a process per
// query.
func dialResolver(name string, pid int, server string) (*resolver, error) {
	if pid == 0 {
		c, err := net.Dial("udp", server)
		if err != nil {
			return nil, err
		}
		return &resolver{name: name, conn: &dns.Conn{Conn: c}}, nil
	}
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread stays locked (and dies with the goroutine) unless it
		// is back in its own namespace.
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer self.Close()
		target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("setns %d: %w", pid, err)}
			return
		}
		c, err := net.Dial("udp", server)
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	if r.err != nil {
		return nil, r.err
	}
	return &resolver{name: name, conn: &dns.Conn{Conn: r.c}}, nil
}

func (r *resolver) Close() { r.conn.Close() }

// reply is what a resolver said, reduced to what the tests compare.
type reply struct {
	ok    bool // an answer came (false: timeout)
	rcode int
	aa    bool
	ttl   uint32   // smallest TTL in the answer
	a     []string // A records, sorted
	ptr   []string // PTR targets, lower case, sorted
	msg   *dns.Msg
}

// positive reports whether the reply carries records of the asked kind.
func (r reply) positive() bool {
	return r.ok && r.rcode == dns.RcodeSuccess && (len(r.a) > 0 || len(r.ptr) > 0)
}

func (r reply) String() string {
	switch {
	case !r.ok:
		return "no reply"
	case r.rcode != dns.RcodeSuccess:
		return dns.RcodeToString[r.rcode]
	case len(r.ptr) > 0:
		return "PTR " + strings.Join(r.ptr, ",")
	case len(r.a) > 0:
		return "A " + strings.Join(r.a, ",")
	}
	return "NODATA"
}

// set is the comparable content: addresses or PTR targets, "" when none.
func (r reply) set() string {
	if !r.positive() {
		return ""
	}
	return strings.Join(append(append([]string{}, r.a...), r.ptr...), ",")
}

// query asks name/qtype and waits up to timeout. Late replies to earlier
// queries on the socket are skipped by ID.
func (r *resolver) query(name string, qtype uint16, timeout time.Duration) reply {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	deadline := time.Now().Add(timeout)
	r.conn.SetDeadline(deadline)
	if err := r.conn.WriteMsg(m); err != nil {
		return reply{}
	}
	for {
		in, err := r.conn.ReadMsg()
		if err != nil {
			return reply{}
		}
		if in.Id != m.Id {
			continue
		}
		out := reply{ok: true, rcode: in.Rcode, aa: in.Authoritative, msg: in}
		for i, rr := range in.Answer {
			if i == 0 || rr.Header().Ttl < out.ttl {
				out.ttl = rr.Header().Ttl
			}
			switch rr := rr.(type) {
			case *dns.A:
				out.a = append(out.a, rr.A.String())
			case *dns.PTR:
				out.ptr = append(out.ptr, strings.ToLower(rr.Ptr))
			}
		}
		slices.Sort(out.a)
		slices.Sort(out.ptr)
		return out
	}
}

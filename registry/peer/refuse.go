package peer

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/credentials"
)

// refusingCreds is the peer listener's TLS: a connection whose handshake
// fails (no certificate, another Swarm's, a plaintext client) is refused
// before any registry data exists for it, and logged once per address and
// reason.
type refusingCreds struct {
	credentials.TransportCredentials
	refs *refusals
}

func (c refusingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.refs.refuse(conn.RemoteAddr(), err)
	}
	return out, info, err
}

func (c refusingCreds) Clone() credentials.TransportCredentials {
	return refusingCreds{c.TransportCredentials.Clone(), c.refs}
}

// refusals counts refused connections and logs each address and reason
// once; the memory of what was logged is bounded.
type refusals struct {
	log   *logrus.Entry
	count atomic.Uint64
	mu    sync.Mutex
	seen  map[string]bool
}

const maxRefusalsRemembered = 4096

func (r *refusals) refuse(addr net.Addr, err error) {
	r.count.Add(1)
	host := addr.String()
	if h, _, e := net.SplitHostPort(host); e == nil {
		host = h
	}
	key := host + "\x00" + err.Error()
	r.mu.Lock()
	if len(r.seen) >= maxRefusalsRemembered {
		clear(r.seen)
	}
	first := !r.seen[key]
	r.seen[key] = true
	r.mu.Unlock()
	if first {
		r.log.WithField("peer", host).WithError(err).Warn("peer refused")
	}
}

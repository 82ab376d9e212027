package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// Server serves a Handler on one UDP and one TCP socket at the same address.
type Server struct {
	Handler *Handler
	// Addr is the listen address, host:port (":53").
	Addr string
	Log  *logrus.Entry
	// Readers is the number of UDP read loops (default GOMAXPROCS - 1,
	// at least 1). On Linux a loop keeps its P while it waits in recvmmsg;
	// with a P left over, the runtime has no reason to take theirs away.
	Readers int
	// MaxTCPConns bounds open TCP connections; more are closed at accept
	// (default 256).
	MaxTCPConns int
	// TCPIdleTimeout closes a connection with no query for that long
	// (default 10 s); TCPReadTimeout bounds reading one query once it has
	// started (default 2 s).
	TCPIdleTimeout time.Duration
	TCPReadTimeout time.Duration
	// MaxTCPQueries closes a connection after that many queries (default 128).
	MaxTCPQueries int
	// RateLimit limits authoritative UDP answers per client prefix; nil
	// does not limit.
	RateLimit *RateLimit

	udp      []udpConn
	udpAddr  *net.UDPAddr
	tcp      net.Listener
	tcpSlots chan struct{}
	scratch  sync.Pool
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
	connsMu  sync.Mutex
	conns    map[net.Conn]bool
	closing  bool
}

func (s *Server) defaults() {
	if s.Readers <= 0 {
		s.Readers = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if s.MaxTCPConns <= 0 {
		s.MaxTCPConns = 256
	}
	if s.TCPIdleTimeout <= 0 {
		s.TCPIdleTimeout = 10 * time.Second
	}
	if s.TCPReadTimeout <= 0 {
		s.TCPReadTimeout = 2 * time.Second
	}
	if s.MaxTCPQueries <= 0 {
		s.MaxTCPQueries = 128
	}
	if s.Log == nil {
		s.Log = logrus.NewEntry(logrus.StandardLogger())
	}
}

// Start binds the sockets and starts serving; it returns once both listen.
func (s *Server) Start() error {
	s.defaults()
	udpAddr, err := net.ResolveUDPAddr("udp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, err)
	}
	// Bind TCP to the port UDP got, so ":0" gives one port for both. With
	// ":0" a port taken in between by another process — for TCP, or for
	// UDP between the probe and the reuseport sockets — is tried again.
	for try := 1; ; try++ {
		conns, bound, err := listenUDP(udpAddr, s.Readers)
		if err != nil {
			if udpAddr.Port == 0 && try < 10 && errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return fmt.Errorf("listen udp %s: %w", s.Addr, err)
		}
		s.udp, s.udpAddr = conns, udpAddrOf(bound)
		tcpAddr := &net.TCPAddr{IP: udpAddr.IP, Port: s.udpAddr.Port, Zone: udpAddr.Zone}
		s.tcp, err = net.ListenTCP("tcp", tcpAddr)
		if err == nil {
			break
		}
		s.closeUDP()
		if udpAddr.Port != 0 || try == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen tcp %s: %w", s.Addr, err)
		}
	}
	s.tcpSlots = make(chan struct{}, s.MaxTCPConns)
	s.conns = make(map[net.Conn]bool)
	s.scratch.New = func() any { return newScratch() }
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, c := range s.udp {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve(s)
		}()
	}
	s.wg.Add(1)
	go s.acceptTCP()
	s.Log.WithFields(logrus.Fields{"udp": s.udpAddr.String(), "tcp": s.tcp.Addr().String()}).Info("serving DNS")
	return nil
}

// UDPAddr and TCPAddr return the bound addresses.
func (s *Server) UDPAddr() net.Addr { return s.udpAddr }

// TCPAddr returns the bound TCP address.
func (s *Server) TCPAddr() net.Addr { return s.tcp.Addr() }

// Shutdown stops accepting queries and waits for those under way until
// ctx is done; then it cuts them off.
func (s *Server) Shutdown(ctx context.Context) error {
	s.connsMu.Lock()
	s.closing = true
	for c := range s.conns {
		// Wake connections waiting for their next query; one being
		// answered finishes its reply first.
		c.SetReadDeadline(time.Now())
	}
	s.connsMu.Unlock()
	s.tcp.Close()
	for _, c := range s.udp {
		c.wake()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("shutdown: %w", ctx.Err())
	}
	s.cancel()
	s.closeUDP()
	s.connsMu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.connsMu.Unlock()
	return err
}

func (s *Server) observe(sc *scratch, start time.Time) {
	if o := s.Handler.cfg.Observer; o != nil {
		sc.ev.Took = time.Since(start)
		o.Observe(&sc.ev)
	}
}

func (s *Server) now() time.Time {
	if s.Handler.cfg.Observer == nil {
		return time.Time{}
	}
	return time.Now()
}

func (s *Server) closeUDP() {
	for _, c := range s.udp {
		c.close()
	}
}

// serveDatagram answers one query that arrived on c, sent to local (the
// datagram's destination on a wildcard socket, else invalid); it returns
// the reply to send, or nil when there is none now (no reply, dropped by
// the rate limit, or forwarded: that reply leaves later, from local too).
func (s *Server) serveDatagram(c udpConn, msg []byte, client netip.AddrPort, local netip.Addr, sc *scratch) []byte {
	start := s.now()
	sc.ev.Client, sc.ev.TCP = client, false
	out, fwd := s.Handler.answer(msg, client.Addr(), false, sc)
	if fwd {
		s.forwardUDP(c, msg, client, local, sc, start)
		return nil
	}
	if out == nil {
		return nil
	}
	if s.RateLimit != nil && sc.ev.Path == PathZone {
		switch s.RateLimit.check(client.Addr()) {
		case rrlDrop:
			return nil
		case rrlSlip:
			out = slipped(out, sc.q.qend)
			sc.ev.Truncated = true
		}
	}
	s.observe(sc, start)
	return out
}

// forwardUDP hands a query to a goroutine of its own, so the read loop
// never waits for an upstream. The Forwarder bounds the upstream work and
// fails a query past its bound at once.
func (s *Server) forwardUDP(c udpConn, msg []byte, client netip.AddrPort, local netip.Addr, sc *scratch, start time.Time) {
	query := append([]byte(nil), msg...)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fsc := s.scratch.Get().(*scratch)
		defer s.scratch.Put(fsc)
		fsc.ev.Client, fsc.ev.TCP = client, false
		if out := s.Handler.forwardQuery(s.ctx, query, false, fsc); out != nil {
			c.writeTo(out, client, local)
			s.observe(fsc, start)
		}
	}()
}

func (s *Server) acceptTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.Log.WithError(err).Warn("tcp accept failed")
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case s.tcpSlots <- struct{}{}:
		default:
			c.Close() // over --max-tcp-conns
			continue
		}
		s.connsMu.Lock()
		if s.closing {
			s.connsMu.Unlock()
			c.Close()
			<-s.tcpSlots
			return
		}
		s.conns[c] = true
		s.connsMu.Unlock()
		s.wg.Add(1)
		go s.serveTCP(c)
	}
}

func (s *Server) serveTCP(c net.Conn) {
	defer func() {
		s.connsMu.Lock()
		delete(s.conns, c)
		s.connsMu.Unlock()
		c.Close()
		<-s.tcpSlots
		s.wg.Done()
	}()
	client, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	var lenBuf [2]byte
	msg := make([]byte, 0, 512)
	for q := 0; q < s.MaxTCPQueries; q++ {
		c.SetReadDeadline(time.Now().Add(s.TCPIdleTimeout))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if n == 0 {
			return
		}
		c.SetReadDeadline(time.Now().Add(s.TCPReadTimeout))
		if cap(msg) < n {
			msg = make([]byte, n)
		}
		msg = msg[:n]
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		start := s.now()
		sc.ev.Client, sc.ev.TCP = client, true
		out, fwd := s.Handler.answer(msg, client.Addr(), true, sc)
		if sc.xfr {
			// A zone transfer writes its own messages, bounded in time.
			if !s.Handler.cfg.Transfer.ServeTCP(c, msg, client) {
				return
			}
			continue
		}
		if fwd {
			out = s.Handler.forwardQuery(s.ctx, msg, true, sc)
		}
		if out == nil {
			return
		}
		c.SetWriteDeadline(time.Now().Add(s.TCPReadTimeout))
		binary.BigEndian.PutUint16(lenBuf[:], uint16(len(out)))
		if _, err := (&net.Buffers{lenBuf[:], out}).WriteTo(c); err != nil {
			return
		}
		s.observe(sc, start)
		s.connsMu.Lock()
		closing := s.closing
		s.connsMu.Unlock()
		if closing {
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

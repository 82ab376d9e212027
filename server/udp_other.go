//go:build !linux

package server

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// netUDP is the portable UDP socket: one net.UDPConn that every read loop
// shares, one datagram per system call. It does not read a datagram's
// destination: on a wildcard address the system picks a reply's source by
// its route back to the client, which need not be the address the client
// asked (and a client drops such a reply). Outside Linux, listen on one
// address (docs/configuration.md, --listen).
type netUDP struct {
	c    *net.UDPConn
	once sync.Once
}

func listenUDP(addr *net.UDPAddr, readers int) ([]udpConn, net.Addr, error) {
	c, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, nil, err
	}
	u := &netUDP{c: c}
	conns := make([]udpConn, readers)
	for i := range conns {
		conns[i] = u
	}
	return conns, c.LocalAddr(), nil
}

func (u *netUDP) serve(s *Server) {
	buf := make([]byte, 65535)
	sc := newScratch()
	for {
		n, client, err := u.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || isTimeout(err) {
				return
			}
			continue
		}
		if out := s.serveDatagram(u, buf[:n], client, netip.Addr{}, sc); out != nil {
			u.c.WriteToUDPAddrPort(out, client)
		}
	}
}

func (u *netUDP) writeTo(b []byte, to netip.AddrPort, _ netip.Addr) { u.c.WriteToUDPAddrPort(b, to) }

func (u *netUDP) wake() { u.c.SetReadDeadline(time.Now()) }

func (u *netUDP) close() { u.once.Do(func() { u.c.Close() }) }

package server

import (
	"net"
	"net/netip"
)

// A udpConn is one bound UDP socket and its read loop. Start binds
// s.Readers of them (or one shared by s.Readers loops) with listenUDP.
type udpConn interface {
	// serve reads and answers queries until wake or close.
	serve(s *Server)
	// writeTo sends a reply that did not come from serve's own loop (a
	// forwarded answer).
	writeTo(b []byte, to netip.AddrPort)
	// wake makes serve return; close releases the socket.
	wake()
	close()
}

func udpAddrOf(a net.Addr) *net.UDPAddr {
	u, _ := a.(*net.UDPAddr)
	return u
}

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
	// forwarded answer) to the client, from local: the address the query
	// was sent to, as serve passed it to serveDatagram (invalid: the
	// socket's own address).
	writeTo(b []byte, to netip.AddrPort, local netip.Addr)
	// wake makes serve return; close releases the socket.
	wake()
	close()
}

func udpAddrOf(a net.Addr) *net.UDPAddr {
	u, _ := a.(*net.UDPAddr)
	return u
}

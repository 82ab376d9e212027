package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackPortTakesUDPAndTCP(t *testing.T) {
	p := Loopback(t)
	addr := "127.0.0.1:" + strconv.Itoa(int(p))
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("udp %s: %v", addr, err)
	}
	defer u.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("tcp %s: %v", addr, err)
	}
	l.Close()
}

func TestOnFailsForAnAddressNotHere(t *testing.T) {
	if _, err := On("192.0.2.1"); err == nil {
		t.Fatal("a port on an address this machine does not have")
	}
}

// Package freeport finds ports for tests: a port free for both UDP and
// TCP on one address, as a DNS server under test needs. The port is free
// when it is returned; nothing holds it after.
package freeport

import (
	"fmt"
	"net"
	"strconv"
	"testing"
)

// On returns a port free for both UDP and TCP on host just now.
func On(host string) (uint16, error) {
	for range 20 {
		u, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("free port on %s: %w", host, err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return uint16(port), nil
		}
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP on %s", host)
}

// Loopback returns a port free for both UDP and TCP on 127.0.0.1, and
// fails the test when there is none.
func Loopback(t testing.TB) uint16 {
	t.Helper()
	p, err := On("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

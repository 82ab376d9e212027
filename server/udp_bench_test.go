package server

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// BenchmarkUDPLoop is one zone answer through the real UDP read loop, from
// a client socket on loopback to the server and back: on one address, and
// on wildcard addresses, where each reply is sent from the query's own
// destination. One at a time (a batch of one per wake-up) and in bursts of
// 16 (batches of several).
func BenchmarkUDPLoop(b *testing.B) {
	for _, l := range []struct{ name, listen string }{
		{"127.0.0.1", "127.0.0.1:0"},
		{"0.0.0.0", "0.0.0.0:0"},
		{"dual-stack", ":0"},
	} {
		for _, burst := range []int{1, 16} {
			name := l.name + "/one at a time"
			if burst > 1 {
				name = l.name + "/bursts of 16"
			}
			b.Run(name, func(b *testing.B) { benchUDPLoop(b, l.listen, burst) })
		}
	}
}

func benchUDPLoop(b *testing.B, listen string, burst int) {
	ts := startServer(b, example, Config{}, registry.Config{}, func(s *Server) { s.Addr, s.Readers = listen, 1 })
	port := ts.srv.UDPAddr().(*net.UDPAddr).Port
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion("tasks.web.swarm.internal.", dns.TypeA)
	q, _ := m.Pack()
	buf := make([]byte, 4096)
	conn.SetReadBuffer(1 << 20)
	roundTrip := func(n int) {
		for range n {
			if _, err := conn.Write(q); err != nil {
				b.Fatal(err)
			}
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for range n {
			if _, err := conn.Read(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	roundTrip(burst)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += burst {
		roundTrip(min(burst, b.N-i))
	}
}

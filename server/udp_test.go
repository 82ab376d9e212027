package server

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

// Many clients sending bursts without waiting fill the read loops' batches:
// every query gets its own reply, to its own client, with its own ID.
func TestUDPBurstsFromManyClientsAreEachAnswered(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{}, func(s *Server) { s.Readers = 2 })
	const clients, burst = 8, 16
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		go func(c int) {
			conn, err := net.Dial("udp", ts.addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			want := map[uint16]bool{}
			for i := 0; i < burst; i++ {
				m := new(dns.Msg)
				m.SetQuestion("tasks.web.swarm.local.", dns.TypeA)
				m.Id = uint16(c*1000 + i)
				want[m.Id] = true
				q, _ := m.Pack()
				if _, err := conn.Write(q); err != nil {
					errs <- err
					return
				}
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			for len(want) > 0 {
				n, err := conn.Read(buf)
				if err != nil {
					errs <- err
					return
				}
				r := new(dns.Msg)
				if err := r.Unpack(buf[:n]); err != nil || !want[r.Id] || len(r.Answer) != 3 {
					errs <- &dns.Error{}
					return
				}
				delete(want, r.Id)
			}
			errs <- nil
		}(c)
	}
	for c := 0; c < clients; c++ {
		if err := <-errs; err != nil {
			t.Fatalf("client: %v", err)
		}
	}
}

// Several read loops share the port, but another server cannot join them.
func TestUDPPortInUseFailsStart(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{}, func(s *Server) { s.Readers = 2 })
	other := &Server{Handler: ts.srv.Handler, Addr: ts.addr, Log: quietLog(), Readers: 2}
	if err := other.Start(); err == nil {
		t.Fatal("a second server started on a port in use")
	}
}

// A query over UDP, from the socket in to the socket out, allocates
// nothing in the server once its loop is warm (the client here is a
// connected socket that does not allocate either).
func TestUDPLoopDoesNotAllocate(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	conn, err := net.Dial("udp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion("tasks.web.swarm.local.", dns.TypeA)
	q, _ := m.Pack()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	roundTrip := func() {
		if _, err := conn.Write(q); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		roundTrip()
	}
	if a := testing.AllocsPerRun(500, roundTrip); a >= 0.5 {
		t.Fatalf("%v allocations per query", a)
	}
}

// By default the server runs one read loop fewer than GOMAXPROCS (at least
// one): the P left over is for the rest of the process.
func TestUDPReadersDefaultLeavesOneP(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	if want := max(1, runtime.GOMAXPROCS(0)-1); len(ts.srv.udp) != want || ts.srv.Readers != want {
		t.Errorf("%d sockets, Readers %d; want %d", len(ts.srv.udp), ts.srv.Readers, want)
	}
}

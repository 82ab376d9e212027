package server

import (
	"net"
	"regexp"
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
				m.SetQuestion("tasks.web.swarm.internal.", dns.TypeA)
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
	m.SetQuestion("tasks.web.swarm.internal.", dns.TypeA)
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
// one): the P left over is for the rest of the process. The test counts
// the read loops that run, from the goroutines' stacks.
func TestUDPReadersDefaultLeavesOneP(t *testing.T) {
	tests := []struct {
		name  string
		procs int
		loops int
	}{
		{"one P still runs one read loop", 1, 1},
		{"two Ps run one read loop and leave one free", 2, 1},
		{"four Ps run three read loops", 4, 3},
		{"eight Ps run seven read loops", 8, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := runtime.GOMAXPROCS(tt.procs)
			t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
			before := readLoops()
			ts := startServer(t, example, Config{}, registry.Config{})
			got := 0
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if got = readLoops() - before; got == tt.loops || time.Now().After(deadline) {
					break
				}
			}
			if got != tt.loops {
				t.Fatalf("GOMAXPROCS %d: %d read loops running, want %d", tt.procs, got, tt.loops)
			}
			if r := ts.query(t, "udp", "web.", dns.TypeA, 0); len(r.Answer) != 1 {
				t.Fatalf("web.: %v", r)
			}
		})
	}
}

// readLoops counts the goroutines of this process inside a UDP read loop.
func readLoops() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return len(readLoopFrame.FindAll(buf[:n], -1))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// readLoopFrame is the stack frame of a read loop, on Linux (batchUDP) and
// elsewhere (netUDP).
var readLoopFrame = regexp.MustCompile(`swarmdns/server\.\(\*(batchUDP|netUDP)\)\.serve\(`)

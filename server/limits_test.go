package server

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server/forward"
	"github.com/swarmdns/swarmdns/server/forward/dnsmasqtest"
)

// Slowloris: a bounded number of idle TCP connections neither stops UDP
// service nor, once they time out, new TCP service; connections past the
// cap are closed at once.
func TestIdleTCPConnectionsDoNotStopService(t *testing.T) {
	const maxConns = 4
	ts := startServer(t, example, Config{}, registry.Config{}, func(s *Server) {
		s.MaxTCPConns, s.TCPIdleTimeout = maxConns, 300*time.Millisecond
	})
	var idle []net.Conn
	for i := 0; i < maxConns*3; i++ {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0}) // half a length prefix, then nothing
		idle = append(idle, c)
	}
	if r := ts.query(t, "udp", "web.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("UDP while TCP is full: %s", dns.RcodeToString[r.Rcode])
	}
	// Connections past the cap were closed at accept; those within it
	// are closed by the idle timeout.
	closed := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		// EOF, or a reset where the server closed with our byte unread.
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed != len(idle) {
		t.Fatalf("%d of %d idle connections closed", closed, len(idle))
	}
	if r := ts.query(t, "tcp", "web.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("TCP after the idle ones went: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestATCPConnectionServesManyQueriesUpToItsBound(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{}, func(s *Server) { s.MaxTCPQueries = 3 })
	c, err := dns.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := new(dns.Msg)
	m.SetQuestion("web.", dns.TypeA)
	for i := 0; i < 3; i++ {
		if err := c.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadMsg(); err != nil {
			t.Fatalf("query %d: %v", i+1, err)
		}
	}
	c.WriteMsg(m)
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.ReadMsg(); err == nil {
		t.Fatal("a fourth query was answered on a connection bounded to 3")
	}
}

// A bounded flood of unique random names through the forwarder (a real
// dnsmasq upstream answering NXDOMAIN) leaves the heap bounded: the cache
// is bounded by entries, the coalescing table and in-flight queries by the
// cap.
func TestUniqueNameFloodKeepsMemoryBounded(t *testing.T) {
	up := dnsmasqtest.Start(t)
	f, err := forward.New(forward.Config{Upstreams: []string{up.Addr.String()}, CacheSize: 500, MaxInflight: 64, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, example, Config{Forwarder: f}, registry.Config{})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	conn, err := net.Dial("udp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	flood := func(from, n int) {
		buf := make([]byte, 1500)
		for i := from; i < from+n; i++ {
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("r%08x.test.", i*2654435761), dns.TypeA)
			q, _ := m.Pack()
			conn.Write(q)
			if i%32 == 31 { // keep the socket buffers from dropping everything
				conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				for {
					if _, err := conn.Read(buf); err != nil {
						break
					}
				}
			}
		}
	}
	flood(0, 1000) // warm up: cache full, pools grown
	before := heap()
	deadline := time.Now().Add(8 * time.Second)
	sent := 0
	for sent < 8000 && time.Now().Before(deadline) {
		flood(1000+sent, 1000)
		sent += 1000
	}
	// Let the queries still under way finish before measuring: nothing in
	// flight at the forwarder for three looks in a row.
	for quiet, wait := 0, time.Now().Add(15*time.Second); quiet < 3 && time.Now().Before(wait); {
		if f.Stats().Inflight == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := heap()
	t.Logf("heap in use %d KiB before, %d KiB after %d more unique names", before>>10, after>>10, sent)
	st := f.Stats()
	if st.CacheEntries > 500 || st.Inflight != 0 {
		t.Fatalf("cache holds %d entries (bound 500), %d queries still in flight", st.CacheEntries, st.Inflight)
	}
	if st.CacheMisses < uint64(sent)/2 {
		t.Fatalf("only %d of %d unique names reached the forwarder", st.CacheMisses, sent)
	}
	if after > before+4<<20 {
		t.Fatalf("heap grew by %d KiB over %d unique names", (after-before)>>10, sent)
	}
	if r := ts.query(t, "udp", "web.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("after the flood: %s", dns.RcodeToString[r.Rcode])
	}
}

package server

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpus")

// seedQueries are valid queries of every type and the malformed shapes the
// fuzz targets start from.
func seedQueries() [][]byte {
	var seeds [][]byte
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"web.swarm.internal.", dns.TypeA}, {"tasks.web.", dns.TypeAAAA}, {"_http._tcp.web.", dns.TypeSRV},
		{"11.1.0.10.in-addr.arpa.", dns.TypePTR}, {"swarm.internal.", dns.TypeSOA}, {"swarm.internal.", dns.TypeNS},
		{"web.", dns.TypeANY}, {"nosuch.swarm.internal.", dns.TypeA}, {"example.org.", dns.TypeMX},
		{"swarm.internal.", dns.TypeAXFR}, {"WeB.1.WebTask1.", dns.TypeA}, {"_tcp.web.", dns.TypeTXT},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, _ := m.Pack()
		seeds = append(seeds, b)
		m.SetEdns0(1232, true)
		b, _ = m.Pack()
		seeds = append(seeds, b)
	}
	valid := seeds[0]
	seeds = append(seeds,
		nil,
		valid[:5],            // truncated header
		valid[:headerLen],    // header only
		valid[:len(valid)-2], // truncated question
		[]byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1},                                            // compression loop in the question
		append(append([]byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64}, make([]byte, 64)...), 0, 0, 1, 0, 1),          // oversized label
		[]byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0xC0, 17, 0, 41, 0x10, 0, 0, 0, 0, 0, 0xFF, 0xFF}, // OPT with a loop and a huge RDLENGTH
	)
	return append(seeds, wireSeeds()...)
}

// wireSeeds are the messages of the wire rules: other opcodes carrying
// records, and OPT records whose options do not fit.
func wireSeeds() [][]byte {
	soa, _ := dns.NewRR("swarm.internal. 5 IN SOA ns.swarm.internal. hostmaster.swarm.internal. 2 3600 600 86400 5")
	notify := new(dns.Msg)
	notify.SetNotify("swarm.internal.")
	notify.Answer = []dns.RR{soa}
	notify.SetEdns0(1232, false)
	update := new(dns.Msg)
	update.SetUpdate("swarm.internal.")
	update.Insert([]dns.RR{soa})
	option := new(dns.Msg)
	option.SetQuestion("web.swarm.internal.", dns.TypeA)
	option.SetEdns0(1232, false)
	option.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3, 4}}}
	var seeds [][]byte
	for _, m := range []*dns.Msg{notify, update, option} {
		b, _ := m.Pack()
		seeds = append(seeds, b)
	}
	overrun := append([]byte(nil), seeds[2]...)
	overrun[len(overrun)-5] = 5 // the option's length runs past the OPT RDATA
	ixfr := new(dns.Msg)
	ixfr.SetIxfr("swarm.internal.", 7, "ns.swarm.internal.", "hostmaster.swarm.internal.")
	b, _ := ixfr.Pack() // the client's SOA in authority (RFC 1995)
	return append(seeds, overrun, []byte{0, 1, 15 << 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, b)
}

// checkReply holds the invariants of every reply: it parses, carries the
// query's ID and question, and fits the size it must.
func checkReply(t *testing.T, query, reply []byte, tcp bool) {
	t.Helper()
	if reply == nil {
		return
	}
	r := new(dns.Msg)
	if err := r.Unpack(reply); err != nil {
		t.Fatalf("reply does not parse: %v\nquery %x\nreply %x", err, query, reply)
	}
	if len(query) >= 2 && r.Id != binary.BigEndian.Uint16(query) {
		t.Fatalf("reply id %x, query id %x", r.Id, binary.BigEndian.Uint16(query))
	}
	if !r.Response {
		t.Fatal("reply without QR")
	}
	q := new(dns.Msg)
	if err := q.Unpack(query); err == nil && len(q.Question) == 1 && len(r.Question) == 1 {
		if r.Question[0] != q.Question[0] {
			t.Fatalf("reply question %v, query question %v", r.Question[0], q.Question[0])
		}
	}
	limit := 65535
	if !tcp {
		limit = 512
		if opt := q.IsEdns0(); opt != nil && len(q.Question) == 1 {
			limit = min(max(int(opt.UDPSize()), 512), DefaultMaxUDPSize)
		}
	}
	if len(reply) > limit {
		t.Fatalf("reply of %d bytes over the %d limit", len(reply), limit)
	}
}

func fuzzHandler(t testing.TB) *Handler {
	d, err := file.Load("../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := registry.NewStore(registry.Config{Domain: "swarm.internal.", TTL: 5}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	store.Update(d)
	return NewHandler(Config{Store: store, Log: quietLog()})
}

// FuzzHandler feeds raw datagrams to the query path.
func FuzzHandler(f *testing.F) {
	for _, s := range seedQueries() {
		f.Add(s, false)
	}
	h := fuzzHandler(f)
	sc := newScratch()
	client := netip.MustParseAddr("10.0.1.99")
	f.Fuzz(func(t *testing.T, msg []byte, tcp bool) {
		sc.ev.Client = netip.AddrPortFrom(client, 1234)
		out, fwd := h.answer(msg, client, tcp, sc)
		if fwd {
			t.Fatal("forward asked for without a forwarder")
		}
		checkReply(t, msg, out, tcp)
	})
}

// FuzzTCPStream feeds a raw byte stream to one TCP connection: frames of
// any length, zero-length frames, frames cut short.
func FuzzTCPStream(f *testing.F) {
	for _, s := range tcpSeeds() {
		f.Add(s)
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		s := &Server{Handler: h}
		s.defaults()
		s.tcpSlots = make(chan struct{}, 1)
		s.conns = map[net.Conn]bool{}
		s.scratch.New = func() any { return newScratch() }
		conn := &streamConn{in: bytes.NewReader(stream)}
		s.tcpSlots <- struct{}{}
		s.wg.Add(1)
		s.serveTCP(conn) // returns at the end of the stream
		// Every reply answers the complete frame at its position.
		queries := frames(stream)
		out := conn.out.Bytes()
		for i := 0; len(out) > 0; i++ {
			if len(out) < 2 || len(out) < 2+int(binary.BigEndian.Uint16(out)) {
				t.Fatalf("reply %d cut short", i+1)
			}
			n := int(binary.BigEndian.Uint16(out))
			if i >= len(queries) {
				t.Fatalf("reply %d to %d complete frames", i+1, len(queries))
			}
			checkReply(t, queries[i], out[2:2+n], true)
			out = out[2+n:]
		}
	})
}

// streamConn is a connection that reads a fixed stream, then EOF, and
// records what is written to it.
type streamConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *streamConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *streamConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *streamConn) Close() error                { return nil }
func (c *streamConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (c *streamConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(10, 0, 1, 99), Port: 1234}
}
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// frames splits a TCP stream into its complete, non-empty frames.
func frames(stream []byte) [][]byte {
	var out [][]byte
	for len(stream) >= 2 {
		n := int(binary.BigEndian.Uint16(stream))
		if n == 0 || len(stream) < 2+n {
			break
		}
		out = append(out, stream[2:2+n])
		stream = stream[2+n:]
	}
	return out
}

// tcpSeeds are TCP streams: each seed query framed, followed by a
// zero-length frame; and frames that lie about their length.
func tcpSeeds() [][]byte {
	var seeds [][]byte
	for _, q := range seedQueries() {
		frame := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
		seeds = append(seeds, append(append(frame, q...), 0, 0))
	}
	return append(seeds, []byte{0, 0}, []byte{0xFF, 0xFF, 1, 2, 3}, []byte{0})
}

// TestWriteSeedCorpus rewrites testdata/fuzz from the seeds when run with
// -update-corpus; otherwise it checks the committed corpus is there.
func TestWriteSeedCorpus(t *testing.T) {
	corpora := []struct {
		target string
		seeds  [][]byte
		extra  string
	}{
		{"FuzzHandler", seedQueries(), "bool(false)\n"},
		{"FuzzTCPStream", tcpSeeds(), ""},
	}
	for _, c := range corpora {
		dir := filepath.Join("testdata", "fuzz", c.target)
		if !*updateCorpus {
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) < len(c.seeds) {
				t.Fatalf("seed corpus %s missing or short (%d files): run go test -run TestWriteSeedCorpus -update-corpus", dir, len(entries))
			}
			continue
		}
		os.MkdirAll(dir, 0o755)
		for i, s := range c.seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n%s", strconv.Quote(string(s)), c.extra)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

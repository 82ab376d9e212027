package transfer_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
	"github.com/swarmdns/swarmdns/server/transfer"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func waitSerialChange(t *testing.T, p *primary, from uint32) uint32 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s := p.serial(t); s != from {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("serial never changed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSerialChangesOnlyWithTheZoneAndSurvivesRestarts(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	file := copyRegistry(t)
	p := startPrimary(t, file, transfer.Config{Allow: loopback, StateFile: state})
	first := p.serial(t)

	// A publish that changes nothing transferred keeps the serial.
	p.store.Rebuild()
	if got := p.serial(t); got != first {
		t.Fatalf("an unchanged rebuild moved the serial %d → %d", first, got)
	}
	// A restart on the same data keeps it too, from the state file.
	p.stop()
	p = startPrimary(t, file, transfer.Config{Allow: loopback, StateFile: state})
	if got := p.serial(t); got != first {
		t.Fatalf("a restart on unchanged data moved the serial %d → %d", first, got)
	}
	// A change moves it forward, and so on across another restart, even
	// when the clock says less than the last serial.
	scaleUp(t, file)
	second := waitSerialChange(t, p, first)
	if !(int32(second-first) > 0) {
		t.Fatalf("serial went %d → %d", first, second)
	}
	p.stop()
	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	ahead := strings.Replace(string(raw), `"serial": `+itoa(second), `"serial": `+itoa(second+1_000_000), 1)
	ahead = strings.Replace(ahead, `"records": "`, `"records": "0`, 1) // other content
	os.WriteFile(state, []byte(ahead), 0o644)
	p = startPrimary(t, file, transfer.Config{Allow: loopback, StateFile: state})
	if got := p.serial(t); got != second+1_000_001 {
		t.Fatalf("after a restart with serial %d saved, got %d, want one more", second+1_000_000, got)
	}
}

// TestAStateFileOfAnEarlierVersionKeepsTheSerials starts on a state file
// that swarmdns 944fddc wrote for the small benchmark registry, which
// keeps each zone's hash as "sha256": unchanged zones keep their serials;
// a changed one counts on, saved with the hash of today's files.
func TestAStateFileOfAnEarlierVersionKeepsTheSerials(t *testing.T) {
	raw, err := os.ReadFile("testdata/state-sha256.json")
	if err != nil {
		t.Fatal(err)
	}
	const saved = 1796193752
	reverse := []netip.Prefix{netip.MustParsePrefix(benchdata.Subnet)}
	for _, tc := range []struct {
		name  string
		edit  func(string) string
		moved bool
	}{
		{"the same records keep the saved serial", func(s string) string { return s }, false},
		{"other records count on from it", func(s string) string { return strings.Replace(s, `"sha256": "1c`, `"sha256": "0c`, 1) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.json")
			os.WriteFile(state, []byte(tc.edit(string(raw))), 0o644)
			p := startPrimaryWith(t, func(_ context.Context, st *registry.Store, _ *logrus.Logger) {
				st.Update(benchdata.Data(benchdata.Small))
			}, transfer.Config{Allow: loopback, StateFile: state, Reverse: reverse})
			if got := p.serial(t); tc.moved != (got != saved) || int32(got-saved) < 0 {
				t.Errorf("domain zone serial %d, saved %d (moved: %v)", got, saved, tc.moved)
			}
			if got := soaSerial(t, p.addr.String(), "10.in-addr.arpa."); got != saved {
				t.Errorf("reverse zone serial %d, want %d", got, saved)
			}
			written, _ := os.ReadFile(state)
			if tc.moved != strings.Contains(string(written), `"records"`) {
				t.Errorf("state file after start:\n%s", written)
			}
		})
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// ixfr asks for the changes since serial over TCP and returns the records.
func ixfr(t *testing.T, addr string, serial uint32) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.SetIxfr(domain, serial, "ns1."+domain, "hostmaster."+domain)
	ch, err := (&dns.Transfer{}).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		rrs = append(rrs, env.RR...)
	}
	return rrs
}

func TestIXFRSendsTheChangesSinceTheClientsSerial(t *testing.T) {
	file := copyRegistry(t)
	p := startPrimary(t, file, transfer.Config{Allow: loopback})
	old := p.serial(t)
	full := len(axfr(t, p.addr.String(), domain, nil))
	scaleUp(t, file)
	cur := waitSerialChange(t, p, old)

	rrs := ixfr(t, p.addr.String(), old)
	serials := []uint32{}
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			serials = append(serials, soa.Serial)
		}
	}
	if want := []uint32{cur, old, cur, cur}; len(serials) != 4 || serials[0] != want[0] || serials[1] != want[1] || serials[2] != want[2] || serials[3] != want[3] {
		t.Fatalf("IXFR SOA serials %v, want %v (RFC 1995: new, old, new, new)", serials, want)
	}
	added := 0
	for _, rr := range rrs[2:] {
		if strings.Contains(rr.String(), "webtask4") || strings.Contains(rr.String(), "10.0.1.14") {
			added++
		}
	}
	if added == 0 || len(rrs) >= full {
		t.Fatalf("IXFR of %d records (zone %d) does not carry the new task:\n%v", len(rrs), full, rrs)
	}

	if got := ixfr(t, p.addr.String(), cur); len(got) != 1 {
		t.Errorf("IXFR from the current serial: %d records, want the SOA alone", len(got))
	}
	if got := ixfr(t, p.addr.String(), old-1000); len(got) < full {
		t.Errorf("IXFR from a serial older than the history: %d records, want the whole zone (%d)", len(got), full+1)
	}
}

func TestRefusedTransfersAndTheirLog(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(secretFile, []byte("c3dhcm1kbnMgdGVzdCBrZXkgc2VjcmV0IDMyIGJ5dGVzIQ==\n"), 0o600)
	key, err := transfer.ParseKey("k1:hmac-sha256:" + secretFile)
	if err != nil {
		t.Fatal(err)
	}
	other := key
	other.Name = "other."
	logger, hook := test.NewNullLogger()
	tests := []struct {
		name   string
		cfg    transfer.Config
		sign   *transfer.Key
		secret string
		want   int
		reason string
	}{
		{"a client outside --transfer-allow is refused", transfer.Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, nil, "", dns.RcodeRefused, "not in --transfer-allow"},
		{"an unsigned transfer is refused when a key is required", transfer.Config{Allow: loopback, Keys: []transfer.Key{key}}, nil, "", dns.RcodeRefused, "no TSIG"},
		{"an unknown key is NOTAUTH", transfer.Config{Allow: loopback, Keys: []transfer.Key{key}}, &other, other.Secret(), dns.RcodeNotAuth, "unknown TSIG key"},
		{"a bad signature is NOTAUTH", transfer.Config{Allow: loopback, Keys: []transfer.Key{key}}, &key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", dns.RcodeNotAuth, "bad TSIG signature"},
		{"the right key transfers", transfer.Config{Allow: loopback, Keys: []transfer.Key{key}}, &key, key.Secret(), dns.RcodeSuccess, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hook.Reset()
			tc.cfg.Log = logrus.NewEntry(logger)
			p := startPrimary(t, copyRegistry(t), tc.cfg)
			for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
				for _, net := range []string{"udp", "tcp"} {
					for try := 0; try < 2; try++ {
						m := new(dns.Msg)
						if qt == dns.TypeIXFR {
							m.SetIxfr(domain, 1, "ns1."+domain, "hostmaster."+domain)
						} else {
							m.SetAxfr(domain)
						}
						c := &dns.Client{Net: net}
						if tc.sign != nil {
							m.SetTsig(tc.sign.Name, tc.sign.Algorithm, 300, time.Now().Unix())
							c.TsigSecret = map[string]string{tc.sign.Name: tc.secret}
						}
						r, _, err := c.Exchange(m, p.addr.String())
						if r == nil {
							t.Fatalf("%s %s: no reply: %v", net, dns.TypeToString[qt], err)
						}
						want := tc.want
						if want == dns.RcodeSuccess && net == "udp" && qt == dns.TypeAXFR {
							want = dns.RcodeNotImplemented
						}
						if r.Rcode != want {
							t.Errorf("%s %s: %s, want %s", net, dns.TypeToString[qt], dns.RcodeToString[r.Rcode], dns.RcodeToString[want])
						}
						if tc.want == dns.RcodeNotAuth && (r.IsTsig() == nil || r.IsTsig().Error == 0) {
							t.Errorf("%s %s: NOTAUTH without a TSIG error", net, dns.TypeToString[qt])
						}
					}
				}
			}
			logged := 0
			for _, e := range hook.AllEntries() {
				if e.Message == "zone transfer refused (logged once per client and reason)" && strings.Contains(e.Data["reason"].(string), tc.reason) {
					logged++
				}
			}
			if tc.reason != "" && logged != 1 {
				t.Errorf("refusal %q logged %d times for 8 refused transfers, want once", tc.reason, logged)
			}
		})
	}
}

// TestASlowReaderCannotStarveQueries holds a transfer of the large zone
// without reading it: queries are answered meanwhile, a transfer past
// --max-transfers is refused at once, and the slow one is cut off at
// --transfer-timeout.
func TestASlowReaderCannotStarveQueries(t *testing.T) {
	sz := benchdata.Size{Name: "slow", Services: 2000, Tasks: 10}
	p := startPrimaryWith(t, func(_ context.Context, st *registry.Store, _ *logrus.Logger) { st.Update(benchdata.Data(sz)) },
		transfer.Config{Allow: loopback, MaxTransfers: 1, Timeout: time.Second})
	slow, err := net.Dial("tcp", p.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.(*net.TCPConn).SetReadBuffer(4096)
	m := new(dns.Msg)
	m.SetAxfr(benchdata.Domain)
	raw, _ := m.Pack()
	slow.Write(binary.BigEndian.AppendUint16(nil, uint16(len(raw))))
	slow.Write(raw)
	time.Sleep(100 * time.Millisecond) // the transfer is under way, blocked on its writes

	start := time.Now()
	for i := 0; i < 50; i++ {
		q := new(dns.Msg)
		q.SetQuestion(benchdata.ServiceName(i)+"."+benchdata.Domain, dns.TypeA)
		r, err := dns.Exchange(q, p.addr.String())
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("query during a slow transfer: %v %v", r, err)
		}
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("50 queries took %v during a slow transfer", took)
	}
	second := new(dns.Msg)
	second.SetAxfr(benchdata.Domain)
	r, _, err := (&dns.Client{Net: "tcp"}).Exchange(second, p.addr.String())
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("a transfer past --max-transfers: %v %v, want REFUSED", r, err)
	}
	// Cut off at the timeout: reading the rest ends well before the zone.
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	time.Sleep(1200 * time.Millisecond)
	n, _ := io.Copy(io.Discard, slow)
	full := 0
	for _, rr := range axfr(t, p.addr.String(), benchdata.Domain, nil) {
		full += dns.Len(rr)
	}
	if int(n) >= full {
		t.Errorf("the slow reader got %d bytes, the whole zone (%d): not cut off", n, full)
	}
}

func TestALargeZoneGoesInMessagesUnder64KB(t *testing.T) {
	sz := benchdata.Size{Name: "mid", Services: 1000, Tasks: 10}
	p := startPrimaryWith(t, func(_ context.Context, st *registry.Store, _ *logrus.Logger) { st.Update(benchdata.Data(sz)) },
		transfer.Config{Allow: loopback})
	st := axfrStats(t, p.addr.String(), benchdata.Domain)
	if st.messages < 2 || st.largest > 65535 {
		t.Fatalf("%d messages, the largest %d bytes: want several, each within 64 KB", st.messages, st.largest)
	}
	if st.records < sz.Services*sz.Tasks*3 {
		t.Fatalf("%d records for %d tasks", st.records, sz.Services*sz.Tasks)
	}
}

type xfrStats struct{ messages, records, bytes, largest int }

// axfrStats transfers zone over one TCP connection, reading raw messages.
func axfrStats(t testing.TB, addr, zone string) xfrStats {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	raw, _ := m.Pack()
	c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(raw))), raw...))
	var st xfrStats
	soas := 0
	buf := make([]byte, 65535)
	for soas < 2 {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatalf("after %d messages: %v", st.messages, err)
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			t.Fatal(err)
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		st.messages++
		st.bytes += n + 2
		st.largest = max(st.largest, n)
		st.records += len(r.Answer)
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == dns.TypeSOA {
				soas++
			}
		}
	}
	return st
}

// BenchmarkAXFR transfers the small (examples/registry.yaml) and the large
// (10,000 services × 10 tasks) registry's zone over TCP on loopback.
func BenchmarkAXFR(b *testing.B) {
	for _, tc := range []struct {
		name string
		feed func(context.Context, *registry.Store, *logrus.Logger)
	}{
		{"small", func(ctx context.Context, st *registry.Store, log *logrus.Logger) {
			go file.NewSource("../../examples/registry.yaml", logrus.NewEntry(log)).Run(ctx, st)
		}},
		{"large", func(_ context.Context, st *registry.Store, _ *logrus.Logger) {
			st.Update(benchdata.Data(benchdata.Large))
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := startPrimaryWith(b, tc.feed, transfer.Config{Allow: loopback})
			var st xfrStats
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st = axfrStats(b, p.addr.String(), domain)
			}
			b.ReportMetric(float64(st.bytes), "bytes/xfr")
			b.ReportMetric(float64(st.messages), "msgs/xfr")
			b.ReportMetric(float64(st.records), "records/xfr")
		})
	}
}

// BenchmarkBuildWithTransfers builds the large registry's snapshot with
// and without the transferred zones, whose records every publish makes
// when transfers are on.
func BenchmarkBuildWithTransfers(b *testing.B) {
	d := benchdata.Data(benchdata.Large)
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			cfg := registry.Config{Domain: benchdata.Domain, TTL: 5}
			if on {
				xfr, err := transfer.New(transfer.Config{Allow: loopback, Reverse: []netip.Prefix{netip.MustParsePrefix(benchdata.Subnet)}})
				if err != nil {
					b.Fatal(err)
				}
				cfg.Serial = xfr.Serial
			}
			if err := cfg.Check(); err != nil {
				b.Fatal(err)
			}
			var prev *registry.Snapshot
			for i := 0; i < b.N; i++ {
				prev, _ = registry.Build(d, cfg, prev)
			}
		})
	}
}

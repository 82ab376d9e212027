package forward

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// manyRecords is enough A records for many.test that the answer (about 1.9
// KB) exceeds dnsmasq's default EDNS packet size of 1232 bytes, so over UDP
// it always arrives truncated.
const manyRecords = 120

// dnsmasq is a real Debian dnsmasq on a loopback port, serving a hosts file.
type dnsmasq struct {
	addr netip.AddrPort
	log  string
	sync atomic.Int32
}

// startDnsmasq runs dnsmasq for the test. Without the binary the test is
// skipped, except in CI (CI=true), where it fails.
func startDnsmasq(t *testing.T) *dnsmasq {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/dnsmasq")
	}
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" {
			t.Fatalf("dnsmasq not installed (CI needs: apt-get install -y dnsmasq-base): %v", err)
		}
		t.Skip("dnsmasq not installed; apt-get install dnsmasq-base to run this test")
	}
	dir := t.TempDir()
	var hosts bytes.Buffer
	hosts.WriteString("10.0.0.1 one.test\n10.0.0.2 two.test\n")
	for i := range manyRecords {
		fmt.Fprintf(&hosts, "10.1.%d.%d many.test\n", i/250, i%250+1)
	}
	hostsFile := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsFile, hosts.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &dnsmasq{log: filepath.Join(dir, "dnsmasq.log")}
	args := []string{
		"--no-daemon", "--no-resolv", "--no-hosts",
		"--addn-hosts=" + hostsFile,
		"--log-queries", "--log-facility=" + d.log,
		"--listen-address=127.0.0.1", "--bind-interfaces",
		"--conf-file=/dev/null", "--pid-file=",
		"--local=/test/",  // unknown .test names: NXDOMAIN, not REFUSED
		"--local-ttl=300", // hosts answers are TTL 0 by default: uncacheable
		"--cache-size=0",  // every query it logs is answered from the hosts file
	}
	if u, err := user.Current(); err == nil {
		args = append(args, "--user="+u.Username) // keep our user: it owns dir
	}
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		cmd := exec.Command(bin, append(args, fmt.Sprintf("--port=%d", port))...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		d.addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
		if d.ready(exited) {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return d
		}
		cmd.Process.Kill()
		<-exited
		if attempt == 5 {
			t.Fatalf("dnsmasq did not start: %s", stderr.String())
		}
	}
}

// ready waits until dnsmasq answers, or reports false if it exits.
func (d *dnsmasq) ready(exited <-chan error) bool {
	c := &dns.Client{Timeout: 100 * time.Millisecond}
	for range 100 {
		select {
		case <-exited:
			return false
		default:
		}
		if m, _, err := c.Exchange(query("one.test.", dns.TypeA), d.addr.String()); err == nil && len(m.Answer) == 1 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// queries counts the queries for name and type dnsmasq has logged. It
// first sends a fresh marker query straight to dnsmasq and waits for it in
// the log, so every earlier query has been logged too.
func (d *dnsmasq) queries(t *testing.T, qtype uint16, name string) int {
	t.Helper()
	marker := fmt.Sprintf("marker-%d.test.", d.sync.Add(1))
	c := &dns.Client{Timeout: time.Second}
	if _, _, err := c.Exchange(query(marker, dns.TypeA), d.addr.String()); err != nil {
		t.Fatalf("marker query: %v", err)
	}
	want := "query[" + dns.Type(qtype).String() + "] " + strings.TrimSuffix(name, ".") + " from "
	markerLine := "query[A] " + strings.TrimSuffix(marker, ".") + " from "
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(d.log)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(markerLine)) {
			return bytes.Count(data, []byte(want))
		}
		if time.Now().After(deadline) {
			t.Fatalf("marker %s never reached dnsmasq's log", marker)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return uint16(port)
		}
	}
	t.Fatal("no free port")
	return 0
}

// TestAgainstDnsmasq drives the Forwarder against a real dnsmasq upstream.
func TestAgainstDnsmasq(t *testing.T) {
	d := startDnsmasq(t)
	ctx := context.Background()

	t.Run("forwarded name resolves through dnsmasq", func(t *testing.T) {
		f := newForwarder(t, Config{}, d.addr)
		m, err := f.Exchange(ctx, query("one.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "10.0.0.1" {
			t.Fatalf("reply %v", m)
		}
	})

	t.Run("unknown name is dnsmasq's NXDOMAIN", func(t *testing.T) {
		f := newForwarder(t, Config{}, d.addr)
		m, err := f.Exchange(ctx, query("nosuch.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeNameError {
			t.Errorf("rcode %s, want NXDOMAIN", dns.RcodeToString[m.Rcode])
		}
	})

	t.Run("second identical query within the TTL reaches dnsmasq zero times", func(t *testing.T) {
		f := newForwarder(t, Config{CacheSize: 1000}, d.addr)
		before := d.queries(t, dns.TypeA, "two.test.")
		first, err := f.Exchange(ctx, query("two.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		afterFirst := d.queries(t, dns.TypeA, "two.test.")
		second, err := f.Exchange(ctx, query("TWO.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		afterSecond := d.queries(t, dns.TypeA, "two.test.")
		if afterFirst-before != 1 {
			t.Errorf("first query reached dnsmasq %d times, want 1", afterFirst-before)
		}
		if afterSecond != afterFirst {
			t.Errorf("cached query reached dnsmasq %d times, want 0", afterSecond-afterFirst)
		}
		if len(second.Answer) != 1 || second.Answer[0].(*dns.A).A.String() != "10.0.0.2" || second.Question[0].Name != "TWO.test." {
			t.Errorf("cached reply %v", second)
		}
		if first.Answer[0].Header().Ttl != 300 || second.Answer[0].Header().Ttl > 300 {
			t.Errorf("TTLs %d then %d, want 300 then at most 300", first.Answer[0].Header().Ttl, second.Answer[0].Header().Ttl)
		}
	})

	t.Run("truncated answer is retried over TCP", func(t *testing.T) {
		f := newForwarder(t, Config{CacheSize: 1000}, d.addr)
		before := d.queries(t, dns.TypeA, "many.test.")
		q := query("many.test.", dns.TypeA)
		q.SetEdns0(4096, false)
		m, err := f.Exchange(ctx, q, false)
		if err != nil {
			t.Fatal(err)
		}
		// dnsmasq caps UDP replies at 1232 bytes, so all the records can
		// only have come over TCP.
		if len(m.Answer) != manyRecords || m.Truncated {
			t.Errorf("got %d records (TC=%v), want all %d", len(m.Answer), m.Truncated, manyRecords)
		}
		if n := d.queries(t, dns.TypeA, "many.test.") - before; n != 2 {
			t.Errorf("dnsmasq saw %d queries for many.test, want 2 (UDP, then TCP)", n)
		}

		// A client without EDNS0 gets what fits in 512 bytes with TC set,
		// then its TCP retry is served whole from the cache.
		before = d.queries(t, dns.TypeA, "many.test.")
		small, err := f.Exchange(ctx, query("many.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		if packed, _ := small.Pack(); !small.Truncated || len(packed) > dns.MinMsgSize {
			t.Errorf("UDP reply for a 512-byte client: TC=%v, %d bytes", small.Truncated, len(packed))
		}
		whole, err := f.Exchange(ctx, query("many.test.", dns.TypeA), true)
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.Answer) != manyRecords {
			t.Errorf("TCP client got %d records, want %d", len(whole.Answer), manyRecords)
		}
		if n := d.queries(t, dns.TypeA, "many.test.") - before; n != 0 {
			t.Errorf("cached many.test reached dnsmasq %d times, want 0", n)
		}
	})

	t.Run("with the first upstream dead the second answers within the timeout", func(t *testing.T) {
		// A socket that never answers: the first upstream times out.
		blackhole, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer blackhole.Close()
		const timeout = 400 * time.Millisecond
		f := newForwarder(t, Config{Timeout: timeout}, netip.MustParseAddrPort(blackhole.LocalAddr().String()), d.addr)
		start := time.Now()
		m, err := f.Exchange(ctx, query("one.test.", dns.TypeA), false)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Answer) != 1 {
			t.Errorf("reply %v", m)
		}
		if elapsed < timeout || elapsed > timeout+time.Second {
			t.Errorf("answered after %s, want just over the %s timeout", elapsed, timeout)
		}
	})
}

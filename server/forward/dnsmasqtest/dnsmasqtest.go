// Package dnsmasqtest runs a real dnsmasq from Debian as an upstream
// resolver for tests, and counts the queries that reach it.
package dnsmasqtest

import (
	"bytes"
	"fmt"
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

	"github.com/swarmdns/swarmdns/internal/freeport"
)

// manyRecords is enough A records for many.test that the answer (about 1.9
// KB) exceeds dnsmasq's default EDNS packet size of 1232 bytes, so over UDP
// it always arrives truncated.
const ManyRecords = 120

// Dnsmasq is a real Debian dnsmasq on a loopback port, serving a hosts
// file: one.test (10.0.0.1), two.test (10.0.0.2) and ManyRecords addresses
// for many.test; other .test names are NXDOMAIN.
type Dnsmasq struct {
	Addr netip.AddrPort
	log  string
	sync atomic.Int32
}

// Start runs dnsmasq for the test. Without the binary the test is
// skipped, except in CI (CI=true), where it fails.
func Start(t testing.TB) *Dnsmasq {
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
	for i := range ManyRecords {
		fmt.Fprintf(&hosts, "10.1.%d.%d many.test\n", i/250, i%250+1)
	}
	hostsFile := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsFile, hosts.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Dnsmasq{log: filepath.Join(dir, "dnsmasq.log")}
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
		port := freeport.Loopback(t)
		cmd := exec.Command(bin, append(args, fmt.Sprintf("--port=%d", port))...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		d.Addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
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
func (d *Dnsmasq) ready(exited <-chan error) bool {
	c := &dns.Client{Timeout: 100 * time.Millisecond}
	for range 100 {
		select {
		case <-exited:
			return false
		default:
		}
		if m, _, err := c.Exchange(question("one.test."), d.Addr.String()); err == nil && len(m.Answer) == 1 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Queries counts the queries for name and type dnsmasq has logged. It
// first sends a fresh marker query straight to dnsmasq and waits for it in
// the log, so every earlier query has been logged too.
func (d *Dnsmasq) Queries(t testing.TB, qtype uint16, name string) int {
	t.Helper()
	marker := fmt.Sprintf("marker-%d.test.", d.sync.Add(1))
	c := &dns.Client{Timeout: time.Second}
	if _, _, err := c.Exchange(question(marker), d.Addr.String()); err != nil {
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

func question(name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	return m
}

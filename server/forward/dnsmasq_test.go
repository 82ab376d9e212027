package forward

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/server/forward/dnsmasqtest"
)

// TestAgainstDnsmasq drives the Forwarder against a real dnsmasq upstream.
func TestAgainstDnsmasq(t *testing.T) {
	d := dnsmasqtest.Start(t)
	ctx := context.Background()

	t.Run("forwarded name resolves through dnsmasq", func(t *testing.T) {
		f := newForwarder(t, Config{}, d.Addr)
		m, err := f.Exchange(ctx, query("one.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "10.0.0.1" {
			t.Fatalf("reply %v", m)
		}
	})

	t.Run("unknown name is dnsmasq's NXDOMAIN", func(t *testing.T) {
		f := newForwarder(t, Config{}, d.Addr)
		m, err := f.Exchange(ctx, query("nosuch.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeNameError {
			t.Errorf("rcode %s, want NXDOMAIN", dns.RcodeToString[m.Rcode])
		}
	})

	t.Run("second identical query within the TTL reaches dnsmasq zero times", func(t *testing.T) {
		f := newForwarder(t, Config{CacheSize: 1000}, d.Addr)
		before := d.Queries(t, dns.TypeA, "two.test.")
		first, err := f.Exchange(ctx, query("two.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		afterFirst := d.Queries(t, dns.TypeA, "two.test.")
		second, err := f.Exchange(ctx, query("TWO.test.", dns.TypeA), false)
		if err != nil {
			t.Fatal(err)
		}
		afterSecond := d.Queries(t, dns.TypeA, "two.test.")
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
		f := newForwarder(t, Config{CacheSize: 1000}, d.Addr)
		before := d.Queries(t, dns.TypeA, "many.test.")
		q := query("many.test.", dns.TypeA)
		q.SetEdns0(4096, false)
		m, err := f.Exchange(ctx, q, false)
		if err != nil {
			t.Fatal(err)
		}
		// dnsmasq caps UDP replies at 1232 bytes, so all the records can
		// only have come over TCP.
		if len(m.Answer) != dnsmasqtest.ManyRecords || m.Truncated {
			t.Errorf("got %d records (TC=%v), want all %d", len(m.Answer), m.Truncated, dnsmasqtest.ManyRecords)
		}
		if n := d.Queries(t, dns.TypeA, "many.test.") - before; n != 2 {
			t.Errorf("dnsmasq saw %d queries for many.test, want 2 (UDP, then TCP)", n)
		}

		// A client without EDNS0 gets what fits in 512 bytes with TC set,
		// then its TCP retry is served whole from the cache.
		before = d.Queries(t, dns.TypeA, "many.test.")
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
		if len(whole.Answer) != dnsmasqtest.ManyRecords {
			t.Errorf("TCP client got %d records, want %d", len(whole.Answer), dnsmasqtest.ManyRecords)
		}
		if n := d.Queries(t, dns.TypeA, "many.test.") - before; n != 0 {
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
		f := newForwarder(t, Config{Timeout: timeout}, netip.MustParseAddrPort(blackhole.LocalAddr().String()), d.Addr)
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

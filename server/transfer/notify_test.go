package transfer_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server/transfer"
)

// fakeSecondary records the NOTIFY it gets; it leaves the first
// `ignore` unanswered.
type fakeSecondary struct {
	conn   net.PacketConn
	mu     sync.Mutex
	got    []uint32 // serials, in arrival order
	at     []time.Time
	ignore int
}

func startFakeSecondary(t *testing.T, ignore int) *fakeSecondary {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSecondary{conn: c, ignore: ignore}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dns.Msg
			if m.Unpack(buf[:n]) != nil || m.Opcode != dns.OpcodeNotify || len(m.Answer) != 1 {
				continue
			}
			f.mu.Lock()
			f.got = append(f.got, m.Answer[0].(*dns.SOA).Serial)
			f.at = append(f.at, time.Now())
			skip := len(f.got) <= f.ignore
			f.mu.Unlock()
			if !skip {
				r := new(dns.Msg)
				r.SetReply(&m)
				out, _ := r.Pack()
				c.WriteTo(out, from)
			}
		}
	}()
	return f
}

func (f *fakeSecondary) addr() netip.AddrPort {
	return netip.MustParseAddrPort(f.conn.LocalAddr().String())
}

func (f *fakeSecondary) serials() ([]uint32, []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint32(nil), f.got...), append([]time.Time(nil), f.at...)
}

// churn publishes n registries that differ in the zone, one every gap.
func churn(store *registry.Store, n int, gap time.Duration) {
	for i := 0; i < n; i++ {
		store.Update(benchdata.Data(benchdata.Size{Name: "churn", Services: 2 + i, Tasks: 1}))
		time.Sleep(gap)
	}
}

func TestNotifyIsRateLimitedAndTheNewestSerialWins(t *testing.T) {
	sec := startFakeSecondary(t, 0)
	p := startPrimaryWith(t, func(_ context.Context, st *registry.Store, _ *logrus.Logger) {
		st.Update(benchdata.Data(benchdata.Size{Name: "churn", Services: 1, Tasks: 1}))
	},
		transfer.Config{Allow: loopback, Notify: []netip.AddrPort{sec.addr()}, NotifyInterval: 400 * time.Millisecond})
	churn(p.store, 20, 20*time.Millisecond) // 20 serials in 400 ms
	last := soaSerial(t, p.addr.String(), benchdata.Domain)
	time.Sleep(time.Second)
	got, at := sec.serials()
	if len(got) == 0 || got[len(got)-1] != last {
		t.Fatalf("NOTIFY serials %v: the last is not the newest serial %d", got, last)
	}
	if len(got) > 5 {
		t.Errorf("%d NOTIFY for 21 serials in 0.4 s with a 400 ms interval: %v", len(got), got)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 350*time.Millisecond {
			t.Errorf("two NOTIFY %v apart, under the 400 ms interval", gap)
		}
	}
}

func TestAnUnansweredNotifyIsSentAgain(t *testing.T) {
	sec := startFakeSecondary(t, 1)
	p := startPrimaryWith(t, func(_ context.Context, st *registry.Store, _ *logrus.Logger) {
		st.Update(benchdata.Data(benchdata.Size{Name: "churn", Services: 1, Tasks: 1}))
	},
		transfer.Config{Allow: loopback, Notify: []netip.AddrPort{sec.addr()}})
	serial := soaSerial(t, p.addr.String(), benchdata.Domain)
	time.Sleep(1500 * time.Millisecond)
	got, at := sec.serials()
	if len(got) != 2 || got[0] != serial || got[1] != serial {
		t.Fatalf("NOTIFY serials %v, want %d twice: once unanswered, once more", got, serial)
	}
	if gap := at[1].Sub(at[0]); gap < 900*time.Millisecond || gap > 1400*time.Millisecond {
		t.Errorf("retry after %v, want about 1 s (RFC 1996)", gap)
	}
}

func TestReverseZoneApexAndNames(t *testing.T) {
	p := startPrimary(t, copyRegistry(t), transfer.Config{Allow: loopback, Reverse: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer int
		soa    bool
	}{
		{"10.in-addr.arpa.", dns.TypeSOA, dns.RcodeSuccess, 1, false},
		{"10.in-addr.arpa.", dns.TypeNS, dns.RcodeSuccess, 1, false},
		{"10.in-addr.arpa.", dns.TypeA, dns.RcodeSuccess, 0, true},
		{"99.99.99.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, 0, true},
		{"11.1.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, 1, false},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, tc.qtype)
		r, err := dns.Exchange(m, p.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		soa := len(r.Ns) == 1 && r.Ns[0].Header().Name == reverseZone
		if r.Rcode != tc.rcode || len(r.Answer) != tc.answer || soa != tc.soa || !r.Authoritative {
			t.Errorf("%s %s: %s AA=%v %d answers, authority %v", tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer), r.Ns)
		}
	}
}

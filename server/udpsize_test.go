package server

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server/forward"
	"github.com/swarmdns/swarmdns/server/forward/dnsmasqtest"
)

// These tests drive the real server over loopback with a miekg/dns client
// that offers a 4096-byte buffer, and for forwarded names a real dnsmasq
// upstream (server/forward/dnsmasqtest).

// udpReply sends a query for name with an EDNS buffer of edns bytes and
// returns the raw reply and its parse.
func udpReply(t *testing.T, netw, addr, name string, edns uint16) ([]byte, *dns.Msg) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(edns, false)
	packed, _ := m.Pack()
	raw := rawExchange(t, netw, addr, packed)
	r := new(dns.Msg)
	if err := r.Unpack(raw); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return raw, r
}

func TestUDPRepliesAreCappedAtMaxUDPSizeWhateverTheClientOffers(t *testing.T) {
	const tasks = 100 // about 1.7 kB of A records
	big := bigRegistry(t, tasks, "")
	tests := []struct {
		name  string
		max   int // Config.MaxUDPSize
		netw  string
		edns  uint16
		bound int
		whole bool
	}{
		{"by default a 4096 buffer gets at most 1232 bytes and TC", 0, "udp", 4096, 1232, false},
		{"a larger cap lets a 4096 buffer have it all", 4096, "udp", 4096, 4096, true},
		{"a smaller cap wins over a 1232 buffer", 600, "udp", 1232, 600, false},
		{"a cap above the client's buffer keeps to the buffer", 4096, "udp", 1232, 1232, false},
		{"TCP is not capped", 0, "tcp", 4096, 65535, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, big, Config{MaxUDPSize: tc.max}, registry.Config{})
			raw, r := udpReply(t, tc.netw, ts.addr, "tasks.big.swarm.internal.", tc.edns)
			if len(raw) > tc.bound {
				t.Fatalf("reply of %d bytes, bound %d", len(raw), tc.bound)
			}
			if r.Truncated == tc.whole {
				t.Fatalf("TC=%v with %d answers", r.Truncated, len(r.Answer))
			}
			if tc.whole && len(r.Answer) != tasks {
				t.Fatalf("%d answers, want %d", len(r.Answer), tasks)
			}
			if !tc.whole && len(r.Answer) == 0 {
				t.Fatal("a truncated answer should still carry what fits")
			}
		})
	}
}

func TestForwardedUDPRepliesAreCappedAtMaxUDPSize(t *testing.T) {
	up := dnsmasqtest.Start(t)
	tests := []struct {
		name  string
		max   int
		netw  string
		bound int
		whole bool
	}{
		{"by default a 4096 buffer gets at most 1232 bytes and TC", 0, "udp", 1232, false},
		{"a larger cap lets a 4096 buffer have it all", 4096, "udp", 4096, true},
		{"TCP is not capped", 0, "tcp", 65535, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := forward.New(forward.Config{Upstreams: []string{up.Addr.String()}, Timeout: time.Second, CacheSize: 1000, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			ts := startServer(t, example, Config{Forwarder: f, MaxUDPSize: tc.max}, registry.Config{})
			raw, r := udpReply(t, tc.netw, ts.addr, "many.test.", 4096)
			if len(raw) > tc.bound {
				t.Fatalf("reply of %d bytes, bound %d", len(raw), tc.bound)
			}
			if r.Truncated == tc.whole || (tc.whole && len(r.Answer) != dnsmasqtest.ManyRecords) {
				t.Fatalf("TC=%v with %d answers of %d", r.Truncated, len(r.Answer), dnsmasqtest.ManyRecords)
			}
		})
	}
}

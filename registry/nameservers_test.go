package registry

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// unpackSet decodes the records of a set packed behind a question for owner.
func unpackSet(t *testing.T, owner string, set *RRSet) []string {
	t.Helper()
	var out []string
	for i := 0; i < set.Len(); i++ {
		q := new(dns.Msg)
		q.SetQuestion(owner, dns.TypeA)
		msg, _ := q.Pack()
		msg[7] = 1
		var m dns.Msg
		if err := m.Unpack(append(msg, set.Record(i)...)); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimPrefix(m.Answer[0].String(), m.Answer[0].Header().String()))
	}
	return out
}

func TestTheNSSetNamesServersWithAddressesInTheZone(t *testing.T) {
	s := exampleSnapshot(t, Config{Nameservers: []Nameserver{
		{Name: "NS1.swarm.internal", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}},
		{Name: "ns2.swarm.internal.", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		{Name: "dns.example.org."},
	}})
	ns := unpackSet(t, "swarm.internal.", s.Apex().Views()[0].Set(dns.TypeNS))
	if strings.Join(ns, ",") != "ns1.swarm.internal.,ns2.swarm.internal.,dns.example.org." {
		t.Fatalf("NS set %q", ns)
	}
	for name, want := range map[string]string{"ns1": "192.0.2.1", "ns2": "192.0.2.2"} {
		n, ok := s.Lookup([]byte(name))
		if !ok || n.View(nil).A == nil {
			t.Fatalf("%s has no A set", name)
		}
		if got := unpackSet(t, name+".swarm.internal.", n.View(nil).A); len(got) != 1 || got[0] != want {
			t.Errorf("%s A %q, want %s", name, got, want)
		}
	}
	n, _ := s.Lookup([]byte("ns1"))
	if got := unpackSet(t, "ns1.swarm.internal.", n.View(nil).AAAA); len(got) != 1 || got[0] != "2001:db8::1" {
		t.Errorf("ns1 AAAA %q", got)
	}
	found := false
	s.Names(func(key string, _ Name) { found = found || key == "ns2" })
	if !found {
		t.Error("Names does not list the nameserver name ns2")
	}
	soa := unpackSet(t, "swarm.internal.", s.Apex().Views()[0].Set(dns.TypeSOA))[0]
	if !strings.HasPrefix(soa, "ns1.swarm.internal. hostmaster.swarm.internal. ") || !strings.HasSuffix(soa, " 300 60 604800 5") {
		t.Errorf("SOA %q: want MNAME the first nameserver, a mailbox RNAME and the swarmdns timers", soa)
	}
}

func TestBadNameserversAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ns   []Nameserver
		want string
	}{
		{"a name in the zone needs an address", []Nameserver{{Name: "ns1.swarm.internal."}}, "needs an address"},
		{"the apex is no nameserver name", []Nameserver{{Name: "swarm.internal.", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}}, "apex"},
		{"a name twice", []Nameserver{{Name: "a.example."}, {Name: "A.example"}}, "twice"},
		{"not a host name", []Nameserver{{Name: "a..b"}}, "not a host name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Domain: "swarm.internal.", Nameservers: tc.ns}
			if err := cfg.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestConfigSerialStampsTheSOA(t *testing.T) {
	s := exampleSnapshot(t, Config{Serial: func(*Snapshot) uint32 { return 4242 }})
	if s.Serial != 4242 {
		t.Fatalf("Serial %d", s.Serial)
	}
	rr, _, err := dns.UnpackRR(s.SOA(), 0)
	if err != nil || rr.(*dns.SOA).Serial != 4242 {
		t.Fatalf("negative answers' SOA %v %v, want serial 4242", rr, err)
	}
	if got := unpackSet(t, "swarm.internal.", s.Apex().Views()[0].Set(dns.TypeSOA))[0]; !strings.Contains(got, " 4242 ") {
		t.Fatalf("apex SOA %q, want serial 4242", got)
	}
}

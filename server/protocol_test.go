package server

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
)

func packed(t *testing.T, edit func(m *dns.Msg)) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("web.swarm.internal.", dns.TypeA)
	m.Id = 0xBEEF
	edit(m)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProtocolErrorsGetTheRightRcode(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	tests := []struct {
		name  string
		msg   []byte
		rcode int
	}{
		{"unsupported opcode is NOTIMP", packed(t, func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }), dns.RcodeNotImplemented},
		{"UPDATE is NOTIMP", packed(t, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), dns.RcodeNotImplemented},
		{"AXFR is REFUSED", packed(t, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }), dns.RcodeRefused},
		{"IXFR is REFUSED", packed(t, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeIXFR }), dns.RcodeRefused},
		{"IXFR with the client's SOA in authority is REFUSED, not FORMERR", packed(t, func(m *dns.Msg) {
			m.SetIxfr("swarm.internal.", 7, "ns.swarm.internal.", "hostmaster.swarm.internal.")
			m.Id = 0xBEEF
		}), dns.RcodeRefused},
		{"a query other than IXFR with an authority section is FORMERR", packed(t, func(m *dns.Msg) {
			rr, _ := dns.NewRR("swarm.internal. 5 IN SOA ns.swarm.internal. hostmaster.swarm.internal. 7 1 1 1 1")
			m.Ns = []dns.RR{rr}
		}), dns.RcodeFormatError},
		{"class CHAOS is REFUSED", packed(t, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), dns.RcodeRefused},
		{"two questions are FORMERR", packed(t, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), dns.RcodeFormatError},
		{"no question is FORMERR", packed(t, func(m *dns.Msg) { m.Question = nil }), dns.RcodeFormatError},
		{"EDNS version 1 is BADVERS", packed(t, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), dns.RcodeBadVers},
		{"two OPT records are FORMERR", packed(t, func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra = append(m.Extra, m.Extra[0]) }), dns.RcodeFormatError},
		{"a question of type OPT is FORMERR", packed(t, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeOPT }), dns.RcodeFormatError},
		{"a query with an answer section is FORMERR", packed(t, func(m *dns.Msg) {
			rr, _ := dns.NewRR("web.swarm.internal. 5 IN A 10.0.0.1")
			m.Answer = []dns.RR{rr}
		}), dns.RcodeFormatError},
		{"truncated question is FORMERR", packed(t, func(*dns.Msg) {})[:20], dns.RcodeFormatError},
		{"compression pointer in the question is FORMERR", []byte{0xBE, 0xEF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}, dns.RcodeFormatError},
		{"label longer than 63 is FORMERR", append(append([]byte{0xBE, 0xEF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64}, make([]byte, 64)...), 0, 0, 1, 0, 1), dns.RcodeFormatError},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				reply := rawExchange(t, netw, ts.addr, tc.msg)
				r := new(dns.Msg)
				if err := r.Unpack(reply); err != nil {
					t.Fatalf("reply does not parse: %v", err)
				}
				if r.Id != 0xBEEF {
					t.Errorf("id %x, want beef", r.Id)
				}
				if !r.Response {
					t.Error("QR not set")
				}
				if r.Rcode != tc.rcode {
					t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
				if len(r.Answer) != 0 {
					t.Fatalf("answers in an error reply: %v", r.Answer)
				}
			})
		}
	}
}

func TestMessagesThatGetNoReply(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	tests := []struct {
		name string
		msg  []byte
	}{
		{"a response", packed(t, func(m *dns.Msg) { m.Response = true })},
		{"shorter than a header", []byte{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tryRawExchange("udp", ts.addr, tc.msg, 200*time.Millisecond); err == nil {
				t.Fatal("got a reply")
			}
		})
	}
	// The server still answers afterwards.
	if r := ts.query(t, "udp", "web.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("after junk: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestEDNSReplyEchoesDOAndAdvertisesOurSize(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	m := new(dns.Msg)
	m.SetQuestion("web.", dns.TypeA)
	m.SetEdns0(4096, true)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	opt := r.IsEdns0()
	if opt == nil || !opt.Do() || opt.UDPSize() != ourUDPSize || opt.Version() != 0 {
		t.Fatalf("OPT %v", opt)
	}
	m.SetEdns0(4096, false)
	m.Extra = m.Extra[:1]
	m.IsEdns0().SetDo(false)
	r, _, _ = c.Exchange(m, ts.addr)
	if r.IsEdns0() == nil || r.IsEdns0().Do() {
		t.Fatal("DO echoed when not asked")
	}
}

func TestRecursionDesiredIsEchoed(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	for _, rd := range []bool{true, false} {
		m := new(dns.Msg)
		m.SetQuestion("web.", dns.TypeA)
		m.RecursionDesired = rd
		r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		if r.RecursionDesired != rd {
			t.Fatalf("RD=%v echoed as %v", rd, r.RecursionDesired)
		}
	}
}

// withOption adds an EDNS option of 4 data bytes whose length field says
// length, to a packed query with an OPT record last.
func withOption(t *testing.T, length uint16) []byte {
	b := packed(t, func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3, 4}})
	})
	b[len(b)-6], b[len(b)-5] = byte(length>>8), byte(length)
	return b
}

func TestOpcodesOtherThanQueryAreNOTIMPWhateverTheyCarry(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	soa, _ := dns.NewRR("swarm.internal. 5 IN SOA ns.swarm.internal. hostmaster.swarm.internal. 2 3600 600 86400 5")
	a, _ := dns.NewRR("new.swarm.internal. 5 IN A 10.0.0.9")
	tests := []struct {
		name   string
		msg    []byte
		opcode int
		opt    bool
	}{
		{"NOTIFY with the primary's SOA in the answer section", packed(t, func(m *dns.Msg) {
			m.SetNotify("swarm.internal.")
			m.Id = 0xBEEF
			m.Answer = []dns.RR{soa}
		}), dns.OpcodeNotify, false},
		{"NOTIFY with EDNS keeps its OPT", packed(t, func(m *dns.Msg) {
			m.SetNotify("swarm.internal.")
			m.Id = 0xBEEF
			m.Answer = []dns.RR{soa}
			m.SetEdns0(1232, false)
		}), dns.OpcodeNotify, true},
		{"UPDATE with prerequisite and update sections", packed(t, func(m *dns.Msg) {
			m.SetUpdate("swarm.internal.")
			m.Id = 0xBEEF
			m.NameNotUsed([]dns.RR{a})
			m.Insert([]dns.RR{a})
		}), dns.OpcodeUpdate, false},
		{"opcode 15 with no question", []byte{0xBE, 0xEF, 15 << 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 15, false},
		{"opcode 15 with junk after the header", []byte{0xBE, 0xEF, 15 << 3, 0, 0, 3, 0, 7, 0, 0, 0, 0, 0xFF, 0xFF}, 15, false},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				r := new(dns.Msg)
				if err := r.Unpack(rawExchange(t, netw, ts.addr, tc.msg)); err != nil {
					t.Fatalf("reply does not parse: %v", err)
				}
				if r.Id != 0xBEEF || !r.Response {
					t.Fatalf("id %x QR %v", r.Id, r.Response)
				}
				if r.Rcode != dns.RcodeNotImplemented || r.Opcode != tc.opcode {
					t.Fatalf("rcode %s opcode %d, want NOTIMP opcode %d", dns.RcodeToString[r.Rcode], r.Opcode, tc.opcode)
				}
				if len(r.Answer)+len(r.Ns) != 0 {
					t.Fatalf("records in a NOTIMP reply: %v %v", r.Answer, r.Ns)
				}
				if (r.IsEdns0() != nil) != tc.opt {
					t.Fatalf("OPT in reply %v, want %v", r.IsEdns0() != nil, tc.opt)
				}
			})
		}
	}
}

func TestAFORMERRForABadOPTCarriesAnOPT(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	full := withOption(t, 4)
	tests := []struct {
		name string
		msg  []byte
	}{
		{"an option whose length runs past the OPT data", withOption(t, 5)},
		{"an option header cut short", func() []byte {
			b := packed(t, func(m *dns.Msg) { m.SetEdns0(1232, false) })
			b[len(b)-1] = 2 // RDLENGTH 2: half an option header
			return append(b, 0xFD, 0xE9)
		}()},
		{"an OPT whose RDATA runs past the message", full[:len(full)-2]},
		{"an OPT not owned by the root", packed(t, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().Hdr.Name = "web." })},
		{"two OPT records", packed(t, func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra = append(m.Extra, m.Extra[0]) })},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				r := new(dns.Msg)
				if err := r.Unpack(rawExchange(t, netw, ts.addr, tc.msg)); err != nil {
					t.Fatalf("reply does not parse: %v", err)
				}
				if r.Rcode != dns.RcodeFormatError {
					t.Fatalf("rcode %s, want FORMERR", dns.RcodeToString[r.Rcode])
				}
				if opt := r.IsEdns0(); opt == nil || opt.Version() != 0 {
					t.Fatalf("OPT %v, want one of version 0", opt)
				}
			})
		}
	}
	t.Run("a well-formed option is answered", func(t *testing.T) {
		r := new(dns.Msg)
		if err := r.Unpack(rawExchange(t, "udp", ts.addr, full)); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("rcode %s answers %d err %v", dns.RcodeToString[r.Rcode], len(r.Answer), err)
		}
	})
}

func TestClassANYIsAnsweredAsINWithoutAA(t *testing.T) {
	ts := startServer(t, example, Config{}, registry.Config{})
	tests := []struct {
		name    string
		qname   string
		qclass  uint16
		rcode   int
		answers bool
		aa      bool
	}{
		{"class IN is authoritative", "web.swarm.internal.", dns.ClassINET, dns.RcodeSuccess, true, true},
		{"class ANY gets the IN answer without AA", "web.swarm.internal.", dns.ClassANY, dns.RcodeSuccess, true, false},
		{"class ANY of an unknown name is NXDOMAIN without AA", "nosuch.swarm.internal.", dns.ClassANY, dns.RcodeNameError, false, false},
		{"class ANY of a bare name is answered too", "web.", dns.ClassANY, dns.RcodeSuccess, true, false},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tc.qname, dns.TypeA)
				m.Question[0].Qclass = tc.qclass
				r, _, err := (&dns.Client{Net: netw, Timeout: 2 * time.Second}).Exchange(m, ts.addr)
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != tc.rcode || (len(r.Answer) > 0) != tc.answers || r.Authoritative != tc.aa {
					t.Fatalf("rcode %s answers %d AA %v; want %s answers %v AA %v",
						dns.RcodeToString[r.Rcode], len(r.Answer), r.Authoritative, dns.RcodeToString[tc.rcode], tc.answers, tc.aa)
				}
			})
		}
	}
}

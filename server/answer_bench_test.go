package server

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/scheduler"
)

var benchClient = netip.MustParseAddr("127.0.0.1")

// handlerFor serves d under swarm.internal. with policy, no upstream.
func handlerFor(tb testing.TB, d *registry.Data, policy string) *Handler {
	tb.Helper()
	log := logrus.NewEntry(logrus.New())
	log.Logger.SetLevel(logrus.ErrorLevel)
	store, err := registry.NewStore(registry.Config{Domain: benchdata.Domain, TTL: 5, Policy: policy}, log)
	if err != nil {
		tb.Fatal(err)
	}
	store.Update(d)
	return NewHandler(Config{Store: store, Log: log})
}

// layeredHandlerFor serves d, then d with a task of svc3 moved to
// another address: a snapshot layered over the full build of d, whose
// overlay holds svc3's names.
func layeredHandlerFor(tb testing.TB, d *registry.Data, policy string) *Handler {
	tb.Helper()
	h := handlerFor(tb, d, policy)
	moved := *d
	moved.Tasks = slices.Clone(d.Tasks)
	for i := range moved.Tasks {
		if t := &moved.Tasks[i]; t.ID == benchdata.TaskID(3, 0) {
			t.Addresses = []registry.NetworkAddrs{{Network: benchdata.NetworkID, Addrs: []netip.Addr{netip.MustParseAddr("10.250.0.1")}}}
		}
	}
	h.cfg.Store.Update(&moved)
	if snap := h.cfg.Store.Snapshot(); snap.Base() == snap {
		tb.Fatal("the change was built in full, not layered")
	}
	return h
}

func packQuery(tb testing.TB, name string, qtype uint16, edns bool) []byte {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns {
		m.SetEdns0(4096, false)
	}
	msg, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}

// zoneQuery is one question to the zone and the rcode and number of
// answer records it gets (-1: not checked).
type zoneQuery struct {
	name    string
	qname   string
	qtype   uint16
	rcode   int
	answers int
}

// zoneQueries are one query of every kind the zone answers, as the
// benchmarks' query mix asks them of the generated registry.
var zoneQueries = []zoneQuery{
	{"A of a vip service", "svc2.swarm.internal", dns.TypeA, dns.RcodeSuccess, 1},
	{"A of tasks", "tasks.svc3.swarm.internal", dns.TypeA, dns.RcodeSuccess, 3},
	{"A of a slot", "2.svc3.swarm.internal", dns.TypeA, dns.RcodeSuccess, 1},
	{"A of a task name", "svc3.2.t3x1.swarm.internal", dns.TypeA, dns.RcodeSuccess, 1},
	{"A of a network-scoped task name", "svc3.2.t3x1.benchnet.swarm.internal", dns.TypeA, dns.RcodeSuccess, 1},
	{"empty non-terminal under a task is NODATA", "2.t3x1.swarm.internal", dns.TypeA, dns.RcodeSuccess, 0},
	{"SRV of a named port", "_http._tcp.svc3.swarm.internal", dns.TypeSRV, dns.RcodeSuccess, 3},
	{"PTR of a task", "4.0.0.10.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, 1},
	{"AAAA with no record is NODATA", "svc2.swarm.internal", dns.TypeAAAA, dns.RcodeSuccess, 0},
	{"unknown name is NXDOMAIN", "nosuch.swarm.internal", dns.TypeA, dns.RcodeNameError, 0},
}

// BenchmarkAnswer is one zone answer from packet in to packet out: parse,
// look up, order, write the reply into the worker's scratch. No sockets.
func BenchmarkAnswer(b *testing.B) {
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Large} {
		h := handlerFor(b, benchdata.Data(size), scheduler.RoundRobin)
		for _, zq := range zoneQueries {
			b.Run(size.Name+"/"+zq.name, func(b *testing.B) {
				benchAnswer(b, h, packQuery(b, zq.qname, zq.qtype, true), zq.rcode)
			})
		}
	}
	// A snapshot layered over the large one: svc3's names in the overlay,
	// the others one probe of it away.
	h := layeredHandlerFor(b, benchdata.Data(benchdata.Large), scheduler.RoundRobin)
	for _, zq := range zoneQueries {
		b.Run("large-layered/"+zq.name, func(b *testing.B) {
			benchAnswer(b, h, packQuery(b, zq.qname, zq.qtype, true), zq.rcode)
		})
	}
}

// BenchmarkAnswerPolicy answers tasks.<svc> with each scheduler, to show
// that no policy's state costs more than another's.
func BenchmarkAnswerPolicy(b *testing.B) {
	d := benchdata.Data(benchdata.Small)
	for _, policy := range scheduler.Names() {
		h := handlerFor(b, d, policy)
		b.Run(policy, func(b *testing.B) {
			benchAnswer(b, h, packQuery(b, "tasks.svc3.swarm.internal", dns.TypeA, true), dns.RcodeSuccess)
		})
	}
}

func benchAnswer(b *testing.B, h *Handler, msg []byte, rcode int) {
	sc := newScratch()
	out, _ := h.answer(msg, benchClient, false, sc)
	if out == nil || int(out[3]&0xF) != rcode {
		b.Fatalf("reply %v, want rcode %d", out, rcode)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		h.answer(msg, benchClient, false, sc)
	}
}

package server

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry/file"
	"github.com/swarmdns/swarmdns/scheduler"
)

// A zone answer allocates nothing once the worker's scratch is warm, for
// every record type and negative answer and every scheduler, with and
// without EDNS.
func TestZoneAnswerDoesNotAllocate(t *testing.T) {
	example, err := file.Load("../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	queries := []zoneQuery{
		{"A of a vip service", "web.swarm.internal", dns.TypeA, dns.RcodeSuccess, -1},
		{"A of tasks, bare name", "tasks.web", dns.TypeA, dns.RcodeSuccess, -1},
		{"AAAA of tasks", "tasks.web.swarm.internal", dns.TypeAAAA, dns.RcodeSuccess, -1},
		{"A of a weighted dnsrr service", "api.swarm.internal", dns.TypeA, dns.RcodeSuccess, -1},
		{"A of a slot", "1.web.swarm.internal", dns.TypeA, dns.RcodeSuccess, -1},
		{"SRV with glue", "_http._tcp.web.swarm.internal", dns.TypeSRV, dns.RcodeSuccess, -1},
		{"PTR of a task", "11.1.0.10.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, -1},
		{"NODATA", "web.swarm.internal", dns.TypeMX, dns.RcodeSuccess, -1},
		{"NXDOMAIN", "nosuch.swarm.internal", dns.TypeA, dns.RcodeNameError, -1},
		{"SOA of the apex", "swarm.internal", dns.TypeSOA, dns.RcodeSuccess, -1},
	}
	for _, policy := range scheduler.Names() {
		h := handlerFor(t, example, policy)
		for _, q := range queries {
			for _, edns := range []bool{false, true} {
				name := policy + "/" + q.name
				if edns {
					name += "/edns"
				}
				t.Run(name, func(t *testing.T) {
					msg := packQuery(t, q.qname, q.qtype, edns)
					sc := newScratch()
					out, fwd := h.answer(msg, benchClient, false, sc)
					if fwd || out == nil || int(out[3]&0xF) != q.rcode {
						t.Fatalf("reply %v (forward %v), want rcode %d", out, fwd, q.rcode)
					}
					if a := testing.AllocsPerRun(200, func() { h.answer(msg, benchClient, false, sc) }); a != 0 {
						t.Fatalf("%v allocations per answer", a)
					}
				})
			}
		}
	}
	// The generated registry too, for the benchmark's query mix, built
	// in full and layered.
	full := handlerFor(t, benchdata.Data(benchdata.Small), scheduler.RoundRobin)
	layered := layeredHandlerFor(t, benchdata.Data(benchdata.Small), scheduler.RoundRobin)
	for _, q := range zoneQueries {
		t.Run("generated/"+q.name, func(t *testing.T) { zoneAnswerDoesNotAllocate(t, full, q) })
		t.Run("layered/"+q.name, func(t *testing.T) { zoneAnswerDoesNotAllocate(t, layered, q) })
	}
}

// zoneAnswerDoesNotAllocate checks the answer to q and that it allocates
// nothing.
func zoneAnswerDoesNotAllocate(t *testing.T, h *Handler, q zoneQuery) {
	msg := packQuery(t, q.qname, q.qtype, true)
	sc := newScratch()
	out, _ := h.answer(msg, benchClient, false, sc)
	if out == nil || int(out[3]&0xF) != q.rcode {
		t.Fatalf("reply %v, want rcode %d", out, q.rcode)
	}
	if an := int(out[6])<<8 | int(out[7]); q.answers >= 0 && an != q.answers {
		t.Fatalf("%d answer records, want %d", an, q.answers)
	}
	if a := testing.AllocsPerRun(200, func() { h.answer(msg, benchClient, false, sc) }); a != 0 {
		t.Fatalf("%v allocations per answer", a)
	}
}

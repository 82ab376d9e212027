//go:build e2e

package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestDifferencesByDesign drives the real swarmdns binary and Docker's
// embedded DNS from the same real container (on appnet) and asserts
// swarmdns's side of each difference docs/names.md lists; Docker's side is
// logged, not asserted (it is Docker's to change).
func TestDifferencesByDesign(t *testing.T) {
	ctx := context.Background()
	docker, ours, host := resolvers(t)
	d, o := docker["a"], ours["a"]
	vipA, err := fx.vip(ctx, fx.web, fx.netAID)
	if err != nil {
		t.Fatal(err)
	}
	lblTasks, err := fx.addrsOn(ctx, fx.lbl, fx.netAID)
	if err != nil {
		t.Fatal(err)
	}
	_, webTasks, err := fx.taskAddrs(ctx, fx.web)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("TTL is --ttl (5 s), not Docker's 600 s", func(t *testing.T) {
		got := o.ask(fx.web, dns.TypeA)
		if got.ttl != 5 {
			t.Errorf("TTL %d, want 5", got.ttl)
		}
		t.Logf("Docker: TTL %d", d.ask(fx.web, dns.TypeA).ttl)
	})
	t.Run("label swarmdns.ttl sets the TTL", func(t *testing.T) {
		if got := o.ask("tasks."+fx.lbl, dns.TypeA); got.ttl != 30 {
			t.Errorf("TTL %d, want 30", got.ttl)
		}
	})
	t.Run("AA is set on registry answers", func(t *testing.T) {
		if got := o.ask(fx.web, dns.TypeA); !got.aa {
			t.Errorf("AA clear")
		}
		t.Logf("Docker: AA %v", d.ask(fx.web, dns.TypeA).aa)
	})
	t.Run("label swarmdns.resolve=tasks answers the service name with its tasks", func(t *testing.T) {
		if got := o.ask(fx.lbl, dns.TypeA); got.set() != strings.Join(lblTasks, ",") {
			t.Errorf("%s: %v, want tasks %v", fx.lbl, got, lblTasks)
		}
		t.Logf("Docker: %v (the VIP)", d.ask(fx.lbl, dns.TypeA))
	})
	t.Run("SRV of a named port from labels swarmdns.ports and swarmdns.weight", func(t *testing.T) {
		name := "_http._tcp." + fx.lbl
		got := o.ask(name, dns.TypeSRV)
		if !got.ok || len(got.msg.Answer) != len(lblTasks) {
			t.Fatalf("%s SRV: %v, want %d records", name, got.msg, len(lblTasks))
		}
		// Every task has weight 3 (the label, on one node of weight 1): the
		// weight field carries it reduced by the GCD, 1 (docs/scheduling.md).
		for _, rr := range got.msg.Answer {
			srv := rr.(*dns.SRV)
			if srv.Port != 8080 || srv.Weight != 1 || !strings.HasPrefix(srv.Target, fx.lbl+".") || !strings.HasSuffix(srv.Target, ".swarm.internal.") {
				t.Errorf("SRV %v: want port 8080, weight 3 reduced to 1, a task name under swarm.internal.", srv)
			}
		}
		if len(got.msg.Extra) < len(lblTasks) {
			t.Errorf("SRV: %d additional records, want the targets' addresses", len(got.msg.Extra))
		}
		t.Logf("Docker: %v", d.ask(name, dns.TypeSRV))
	})
	t.Run("AAAA on an IPv4-only network is NODATA, as Docker", func(t *testing.T) {
		got := o.ask(fx.web, dns.TypeAAAA)
		if !got.ok || got.rcode != dns.RcodeSuccess || len(got.msg.Answer) != 0 {
			t.Errorf("AAAA %s: %v", fx.web, got.msg)
		}
	})
	t.Run("PTR of a VIP is <svc>.<net>.", func(t *testing.T) {
		rev, _ := dns.ReverseAddr(vipA)
		want := strings.ToLower(fx.web + "." + fx.netA + ".")
		if got := o.ask(rev, dns.TypePTR); got.set() != want {
			t.Errorf("PTR %s: %v, want %s", vipA, got, want)
		}
		t.Logf("Docker: %v", d.ask(rev, dns.TypePTR))
	})
	t.Run("<slot>.<svc> is the task in that slot", func(t *testing.T) {
		for _, tk := range webTasks {
			var want []string
			for _, nets := range []string{fx.netAID} {
				for _, att := range tk.NetworksAttachments {
					if att.Network.ID == nets {
						want = append(want, strings.Split(att.Addresses[0], "/")[0])
					}
				}
			}
			name := strconv.Itoa(tk.Slot) + "." + fx.web
			if got := o.ask(name, dns.TypeA); got.set() != strings.Join(want, ",") {
				t.Errorf("%s from appnet: %v, want %v", name, got, want)
			}
		}
	})
	t.Run("names answer under --domain too", func(t *testing.T) {
		if got := o.ask(fx.web+".swarm.internal", dns.TypeA); got.set() != vipA {
			t.Errorf("%s.swarm.internal: %v, want %s", fx.web, got, vipA)
		}
	})
	t.Run("a name under --domain that does not exist is NXDOMAIN with SOA", func(t *testing.T) {
		got := host.ask("nosuch."+fx.prefix+"x.swarm.internal", dns.TypeA)
		if !got.ok || got.rcode != dns.RcodeNameError || len(got.msg.Ns) != 1 {
			t.Errorf("got %v", got.msg)
		}
	})
	t.Run("a bare name outside the registry is REFUSED without upstream", func(t *testing.T) {
		if got := host.ask(fx.prefix+"nosuch", dns.TypeA); !got.ok || got.rcode != dns.RcodeRefused {
			t.Errorf("got %v", got)
		}
	})
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/miekg/dns"
)

// queryTimeout bounds one query. Docker forwards names it does not know to
// the daemon's --dns (127.0.0.1 in the container, where nothing listens),
// so "not a Docker name" shows as no reply at all.
const queryTimeout = 300 * time.Millisecond

// ask queries once more when no reply came: Docker's resolver drops a
// query now and then while it is busy forwarding others.
func (r *resolver) ask(name string, qtype uint16) reply {
	rep := r.query(name, qtype, queryTimeout)
	if !rep.ok {
		rep = r.query(name, qtype, queryTimeout)
	}
	return rep
}

// askAll asks every client's resolver at once, without a retry: no reply
// from Docker is the usual "not a Docker name".
func askAll(rs map[string]*resolver, name string, qtype uint16) map[string]reply {
	out := make(map[string]reply, len(rs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c, r := range rs {
		wg.Go(func() {
			rep := r.query(name, qtype, queryTimeout)
			mu.Lock()
			out[c] = rep
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// clients are the client containers by the networks they are on.
var clients = []string{"a", "b", "ab"}

// nameCase is one name of one name form.
type nameCase struct {
	form string // the form, as docs/names.md writes it
	name string
	// canon is the name Docker answers the same way (name itself, or the
	// name with its network suffix in lower case).
	canon string
	// net is the network name of a .<net> form, "" otherwise.
	net string
}

// resolvers opens Docker's embedded DNS and swarmdns (on the gateway) from
// the network namespace of each client container, and swarmdns from the host.
func resolvers(t *testing.T) (docker, ours map[string]*resolver, host *resolver) {
	t.Helper()
	docker, ours = map[string]*resolver{}, map[string]*resolver{}
	for _, c := range clients {
		var err error
		if docker[c], err = dialResolver("docker", fx.clientPID[c], "127.0.0.11:53"); err != nil {
			t.Fatal(err)
		}
		if ours[c], err = dialResolver("swarmdns", fx.clientPID[c], fx.gwDNS); err != nil {
			t.Fatal(err)
		}
	}
	host, err := dialResolver("swarmdns-host", 0, fx.hostDNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			docker[c].Close()
			ours[c].Close()
		}
		host.Close()
	})
	return docker, ours, host
}

// serviceNames lists every name form Docker answers for one service, with
// upper-case variants.
func serviceNames(ctx context.Context, t *testing.T, svc string, aliases map[string]string, skipBare bool) []nameCase {
	t.Helper()
	s, _, err := fx.api.ServiceInspectWithRaw(ctx, svc, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	netName := map[string]string{fx.netAID: fx.netA, fx.netBID: fx.netB}
	var nets []string
	for _, n := range s.Spec.TaskTemplate.Networks {
		nets = append(nets, netName[n.Target])
	}
	_, tasks, err := fx.taskAddrs(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	var cs []nameCase
	add := func(form, name string) { cs = append(cs, nameCase{form: form, name: name, canon: name}) }
	addNet := func(form, name, net string) {
		cs = append(cs, nameCase{form: form, name: name + "." + net, canon: name + "." + net, net: net})
	}
	if !skipBare {
		add("<svc>", svc)
	}
	add("tasks.<svc>", "tasks."+svc)
	if !skipBare {
		add("<SVC> (upper case)", strings.ToUpper(svc))
	}
	add("TASKS.<SVC> (upper case)", strings.ToUpper("tasks."+svc))
	for _, n := range nets {
		if !skipBare {
			addNet("<svc>.<net>", svc, n)
		}
		addNet("tasks.<svc>.<net>", "tasks."+svc, n)
		addNet("TASKS.<SVC>.<net> (upper-case service part)", strings.ToUpper("tasks."+svc), n)
		cs = append(cs, nameCase{form: "tasks.<svc>.<NET> (upper-case network suffix)",
			name: "tasks." + svc + "." + strings.ToUpper(n), canon: "tasks." + svc + "." + n, net: n})
	}
	for _, tk := range tasks {
		form, mid := "<svc>.<slot>.<taskid>", strconv.Itoa(tk.Slot)
		if tk.Slot == 0 {
			form, mid = "<svc>.<nodeid>.<taskid>", tk.NodeID
		}
		tn := svc + "." + mid + "." + tk.ID
		add(form, tn)
		add(strings.Replace(form, "<svc>.", "<SVC>.", 1)+" (upper case)", strings.ToUpper(tn))
		for _, n := range nets {
			addNet(form+".<net>", tn, n)
		}
	}
	for net, alias := range aliases {
		add("<alias>", alias)
		add("tasks.<alias>", "tasks."+alias)
		add("<ALIAS> (upper case)", strings.ToUpper(alias))
		addNet("<alias>.<net>", alias, net)
		addNet("tasks.<alias>.<net>", "tasks."+alias, net)
	}
	return cs
}

// singleNet maps a network name to the client that is on it alone.
func singleNet(net string) string {
	if net == fx.netA {
		return "a"
	}
	return "b"
}

// verdict collects, per name form and client, whether swarmdns and Docker
// gave the same set, for the table in the log.
type verdict map[string]map[string]map[string]bool

func (v verdict) note(form, client, what string) {
	if v[form] == nil {
		v[form] = map[string]map[string]bool{}
	}
	if v[form][client] == nil {
		v[form][client] = map[string]bool{}
	}
	v[form][client][what] = true
}

func (v verdict) table() string {
	var forms []string
	for f := range v {
		forms = append(forms, f)
	}
	sort.Strings(forms)
	var b strings.Builder
	b.WriteString("\n| name form | client on appnet | client on backnet | client on both | host |\n|---|---|---|---|---|\n")
	for _, f := range forms {
		fmt.Fprintf(&b, "| `%s` |", f)
		for _, c := range []string{"a", "b", "ab", "host"} {
			var ws []string
			for w := range v[f][c] {
				ws = append(ws, w)
			}
			sort.Strings(ws)
			fmt.Fprintf(&b, " %s |", strings.Join(ws, "; "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestConformanceWithEmbeddedDNS drives the real swarmdns binary (serving
// the real Swarm through the Engine API) and Docker's embedded DNS at
// 127.0.0.11, both queried from inside the network namespaces of real task
// containers on appnet, on backnet and on both. For every name form Docker
// answers, the A set from swarmdns equals Docker's; where Docker does not
// know a name (other network, upper-case network suffix) swarmdns answers by
// design, and the test asserts that answer. From the host, swarmdns answers
// the union over the service's networks of what Docker answers inside each.
func TestConformanceWithEmbeddedDNS(t *testing.T) {
	ctx := context.Background()
	docker, ours, host := resolvers(t)
	var cases []nameCase
	cases = append(cases, serviceNames(ctx, t, fx.web, nil, false)...)
	cases = append(cases, serviceNames(ctx, t, fx.rr, nil, false)...)
	cases = append(cases, serviceNames(ctx, t, fx.aliased, map[string]string{fx.netA: fx.shop, fx.netB: fx.store}, false)...)
	cases = append(cases, serviceNames(ctx, t, fx.glob, nil, false)...)
	// The bare name of a swarmdns.resolve=tasks service differs by design
	// (TestDifferencesByDesign).
	cases = append(cases, serviceNames(ctx, t, fx.lbl, nil, true)...)

	v := verdict{}
	for _, nc := range cases {
		// What Docker answers for the canonical name, on each network alone.
		onNet := map[string]string{}
		var union []string
		for _, net := range []string{fx.netA, fx.netB} {
			d := docker[singleNet(net)].ask(nc.canon, dns.TypeA)
			if d.positive() {
				onNet[net] = d.set()
				union = append(union, d.a...)
			}
		}
		slices.Sort(union)
		unionSet := strings.Join(slices.Compact(union), ",")
		if unionSet == "" {
			t.Errorf("%s (%s): Docker answers it on no network; the case list is wrong", nc.name, nc.form)
			continue
		}
		ds, us := askAll(docker, nc.name, dns.TypeA), askAll(ours, nc.name, dns.TypeA)
		for _, c := range clients {
			d, o := ds[c], us[c]
			if d.positive() {
				if o.set() != d.set() {
					t.Errorf("%s (%s) from client %s: swarmdns %v, Docker %v", nc.name, nc.form, c, o, d)
					v.note(nc.form, c, "**MISMATCH**")
				} else {
					v.note(nc.form, c, "equal")
				}
				continue
			}
			// Docker does not know the name here; swarmdns answers what
			// Docker answers on the name's network, else the default view.
			want, why := unionSet, "ours: all networks (Docker: not known)"
			if nc.net != "" {
				want, why = onNet[nc.net], "ours: that network (Docker: not known)"
			}
			if o.set() != want {
				t.Errorf("%s (%s) from client %s: swarmdns %v, want %s (Docker: %v)", nc.name, nc.form, c, o, want, d)
				v.note(nc.form, c, "**WRONG**")
			} else {
				v.note(nc.form, c, why)
			}
		}
		want := unionSet
		if nc.net != "" {
			want = onNet[nc.net]
		}
		if o := host.ask(nc.name, dns.TypeA); o.set() != want {
			t.Errorf("%s (%s) from the host: swarmdns %v, want %s", nc.name, nc.form, o, want)
			v.note(nc.form, "host", "**WRONG**")
		} else if nc.net != "" {
			v.note(nc.form, "host", "equal to Docker on that network")
		} else {
			v.note(nc.form, "host", "equal to the union over the service's networks")
		}
	}
	t.Log(v.table())
}

// TestConformancePTR drives PTR queries for every task address of the
// suite's services, at Docker's embedded DNS and at swarmdns from the same
// client containers: where Docker answers, the PTR targets are equal; the
// other network's task addresses, which Docker does not know, swarmdns
// answers too (PTR names are global).
func TestConformancePTR(t *testing.T) {
	ctx := context.Background()
	docker, ours, host := resolvers(t)
	v := verdict{}
	for _, svc := range []string{fx.web, fx.rr, fx.aliased, fx.glob, fx.lbl} {
		addrs, _, err := fx.taskAddrs(ctx, svc)
		if err != nil {
			t.Fatal(err)
		}
		for _, nets := range addrs {
			for netID, addr := range nets {
				if netID != fx.netAID && netID != fx.netBID {
					continue
				}
				rev, _ := dns.ReverseAddr(addr)
				home := "a"
				if netID == fx.netBID {
					home = "b"
				}
				want := docker[home].ask(rev, dns.TypePTR)
				if !want.positive() {
					t.Errorf("PTR %s: Docker on the task's own network does not answer (%v)", addr, want)
					continue
				}
				ds, us := askAll(docker, rev, dns.TypePTR), askAll(ours, rev, dns.TypePTR)
				for _, c := range clients {
					d, o := ds[c], us[c]
					switch {
					case o.set() != want.set():
						t.Errorf("PTR %s from client %s: swarmdns %v, Docker on the task's network %v", addr, c, o, want)
						v.note("PTR of a task IP", c, "**MISMATCH**")
					case d.positive() && d.set() == o.set():
						v.note("PTR of a task IP", c, "equal")
					case d.positive():
						t.Errorf("PTR %s from client %s: swarmdns %v, Docker %v", addr, c, o, d)
						v.note("PTR of a task IP", c, "**MISMATCH**")
					default:
						v.note("PTR of a task IP", c, "ours: other network's tasks too (Docker: not known)")
					}
				}
				if o := host.ask(rev, dns.TypePTR); o.set() != want.set() {
					t.Errorf("PTR %s from the host: swarmdns %v, want %v", addr, o, want)
				} else {
					v.note("PTR of a task IP", "host", "equal to Docker on the task's network")
				}
			}
		}
	}
	t.Log(v.table())
}

// TestAnswersFromInsideTheNetwork drives swarmdns from a real container on
// each overlay network and checks the per-network view against the Engine
// API directly: the VIP and task addresses on that network only.
func TestAnswersFromInsideTheNetwork(t *testing.T) {
	ctx := context.Background()
	_, ours, _ := resolvers(t)
	for _, tc := range []struct {
		client string
		netID  string
	}{{"a", fx.netAID}, {"b", fx.netBID}} {
		vip, err := fx.vip(ctx, fx.web, tc.netID)
		if err != nil {
			t.Fatal(err)
		}
		if got := ours[tc.client].query(fx.web, dns.TypeA, queryTimeout); got.set() != vip {
			t.Errorf("%s from client %s: %v, want the VIP on its network %s", fx.web, tc.client, got, vip)
		}
		tasks, err := fx.addrsOn(ctx, fx.web, tc.netID)
		if err != nil {
			t.Fatal(err)
		}
		if got := ours[tc.client].query("tasks."+fx.web, dns.TypeA, queryTimeout); got.set() != strings.Join(tasks, ",") {
			t.Errorf("tasks.%s from client %s: %v, want %v", fx.web, tc.client, got, tasks)
		}
	}
}

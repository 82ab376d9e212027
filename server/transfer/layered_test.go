package transfer

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/swarmdns/swarmdns/registry"
)

// TestDerivedVersionsAreTheWholeZone drives a Store through random
// changes with transfers on, and after each publish computes the zones of
// the same snapshot again from the whole snapshot: the version derived
// from the last one has the same records, hash and serial, its
// difference is the same, and the IXFR from every serial in the history,
// applied to the zone at that serial, gives the zone now.
func TestDerivedVersionsAreTheWholeZone(t *testing.T) {
	cases := []struct {
		name string
		// every is one version every so many publishes on average: more
		// than one computes versions off the publishes, skipping some,
		// a new base now and then among them.
		every int
	}{
		{"a version at every publish", 1},
		{"a version every few publishes, some skipped", 3},
	}
	for _, c := range cases {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprint(c.name, "/seed-", seed), func(t *testing.T) {
				r := driveTransfers(t, seed, 120*c.every, c.every)
				t.Logf("%d of %d versions derived from the last, %d over skipped snapshots, %d over a new base",
					r.derived, r.versions, r.skipped, r.newBase)
				// Renames to shared names, network changes and the like build
				// in full; most changes are layered.
				if r.derived < r.versions/3 {
					t.Errorf("%d of %d versions were derived from the last", r.derived, r.versions)
				}
				if c.every > 1 && (r.skipped == 0 || r.newBase == 0) {
					t.Errorf("%d versions over skipped snapshots, %d over a new base", r.skipped, r.newBase)
				}
			})
		}
	}
}

// driven is what one chain of changes computed: versions, those derived
// from the last one, those derived over skipped snapshots, and those
// with a new base since the last version.
type driven struct {
	versions, derived, skipped, newBase int
}

// driveTransfers runs one chain of changes, a version on average every
// so many publishes (at each one when every is 1, by the Store's hook).
func driveTransfers(t *testing.T, seed uint64, steps, every int) driven {
	t.Helper()
	clock := time.Unix(1_900_000_000, 0)
	// Nested reverse zones, and one of a single address (its name is the
	// apex), which tasks have now and then.
	reverse := []netip.Prefix{netip.MustParsePrefix(oneAddr.String() + "/32"), netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/16")}
	inc, _ := New(Config{Reverse: reverse})
	whole, _ := New(Config{Reverse: reverse})
	whole.whole = true
	inc.now, whole.now = func() time.Time { return clock }, func() time.Time { return clock }
	log, _ := test.NewNullLogger()
	cfg := registry.Config{Domain: "swarm.local", TTL: 5}
	if every == 1 {
		cfg.Serial = inc.Serial
	}
	store, err := registry.NewStore(cfg, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	g := newSwarm(rand.New(rand.NewPCG(seed, 11)))
	seen := map[string]map[uint32][]string{} // zone → serial → records
	var r driven
	var last *registry.Snapshot // of the last version
	skipped := false
	for step := 0; step < steps; step++ {
		what := g.mutate()
		// Now and then a version computed whole over a layered snapshot:
		// the next ones are layered over it.
		inc.whole = g.r.IntN(10) == 0
		if g.r.IntN(3) == 0 {
			clock = clock.Add(time.Second)
		}
		store.Update(g.data())
		snap := store.Snapshot()
		if every > 1 {
			if g.r.IntN(every) != 0 {
				skipped = last != nil
				inc.whole = false
				continue
			}
			inc.Serial(snap)
		}
		inc.whole = false
		whole.Serial(snap)
		got, want := inc.cur.Load(), whole.cur.Load()
		r.versions++
		if got.anchor.snap != snap {
			r.derived++
			if skipped {
				r.skipped++
			}
		}
		if last != nil && last.Base() != snap.Base() && skipped {
			r.newBase++
		}
		last, skipped = snap, false
		for i, z := range got.zones {
			w := want.zones[i]
			ctx := fmt.Sprintf("step %d (%s), zone %s", step, what, z.origin)
			recs := recordList(z)
			if wr := recordList(w); !slices.Equal(recs, wr) {
				t.Fatalf("%s: %d records, want %d:\n%v\nwant\n%v", ctx, len(recs), len(wr), recs, wr)
			}
			if z.serial != w.serial || z.hash != w.hash || string(z.soa) != string(w.soa) {
				t.Fatalf("%s: serial %d hash %v, want %d %v", ctx, z.serial, z.hash, w.serial, w.hash)
			}
			checkHistory(t, ctx, got.hist[i], want.hist[i], seen[z.origin], recs)
			if seen[z.origin] == nil {
				seen[z.origin] = map[uint32][]string{}
			}
			seen[z.origin][z.serial] = recs
		}
	}
	return r
}

// checkHistory checks that the history is the whole computation's and
// that the changes since each serial it has lead from that serial's
// records (in seen) to recs.
func checkHistory(t *testing.T, ctx string, got, want history, seen map[uint32][]string, recs []string) {
	t.Helper()
	if len(got.diffs) != len(want.diffs) {
		t.Fatalf("%s: %d differences, want %d", ctx, len(got.diffs), len(want.diffs))
	}
	for i, d := range got.diffs {
		w := want.diffs[i]
		if d.from != w.from || d.to != w.to || !sameSet(d.removed, w.removed) || !sameSet(d.added, w.added) {
			t.Fatalf("%s: difference %d→%d removes %d adds %d, want %d→%d %d %d", ctx, d.from, d.to, len(d.removed), len(d.added), w.from, w.to, len(w.removed), len(w.added))
		}
		chain, ok := got.since(d.from)
		old, known := seen[d.from]
		if !ok || !known {
			t.Fatalf("%s: no zone at serial %d", ctx, d.from)
		}
		if applied := apply(old, chain); !slices.Equal(applied, recs) {
			t.Fatalf("%s: IXFR from %d gives %d records, want %d", ctx, d.from, len(applied), len(recs))
		}
	}
}

// recordList is the distinct records of a version, sorted.
func recordList(z *zone) []string {
	var out []string
	z.each(func(rr []byte) { out = append(out, string(rr)) })
	slices.Sort(out)
	return slices.Compact(out)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// apply is what a secondary does with an IXFR: each difference's
// deletions, then its additions.
func apply(recs []string, chain []*diff) []string {
	set := map[string]bool{}
	for _, r := range recs {
		set[r] = true
	}
	for _, d := range chain {
		for _, r := range d.removed {
			delete(set, r)
		}
		for _, r := range d.added {
			set[r] = true
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// swarm is a cluster that changes at random, a little at a time: services
// with aliases that share names with others, ports, both endpoint modes, tasks on two
// networks (IPv6 on one), now and then an address another task has.
type swarm struct {
	r        *rand.Rand
	services []registry.Service
	tasks    []registry.Task
	networks []registry.Network
	next     int
}

var (
	swarmNames = []string{"web", "api", "db", "cache"}
	oneAddr    = netip.MustParseAddr("10.0.1.7")
)

func newSwarm(r *rand.Rand) *swarm {
	g := &swarm{r: r, networks: []registry.Network{
		{ID: "n1", Name: "front", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}},
		{ID: "n2", Name: "back", Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/64")}},
	}}
	for range 10 {
		g.addService()
	}
	return g
}

func (g *swarm) data() *registry.Data {
	return &registry.Data{Services: slices.Clone(g.services), Tasks: slices.Clone(g.tasks), Networks: slices.Clone(g.networks),
		Nodes: []registry.Node{{ID: "node0", Hostname: "a"}, {ID: "node1", Hostname: "b"}}}
}

func (g *swarm) addr(network string) netip.Addr {
	if g.r.IntN(10) == 0 && len(g.tasks) > 0 {
		if a := g.tasks[g.r.IntN(len(g.tasks))].AddrsOn(network); len(a) > 0 {
			return a[0]
		}
	}
	if network == "n1" && g.r.IntN(30) == 0 {
		return oneAddr
	}
	if network == "n2" {
		if g.r.IntN(3) == 0 {
			return netip.AddrFrom16([16]byte{0: 0xfd, 14: byte(g.r.IntN(4)), 15: byte(1 + g.r.IntN(250))})
		}
		return netip.AddrFrom4([4]byte{10, 1, byte(g.r.IntN(4)), byte(1 + g.r.IntN(250))})
	}
	return netip.AddrFrom4([4]byte{10, 0, byte(g.r.IntN(4)), byte(1 + g.r.IntN(250))})
}

func (g *swarm) name() string {
	if g.r.IntN(4) == 0 {
		return swarmNames[g.r.IntN(len(swarmNames))]
	}
	g.next++
	return fmt.Sprintf("svc%d", g.next)
}

// serviceName is a name no service has (Swarm's are unique), now and
// then one of the names aliases share.
func (g *swarm) serviceName() string {
	name := g.name()
	for _, s := range g.services {
		if s.Name == name {
			return g.serviceName()
		}
	}
	return name
}

func (g *swarm) addService() {
	g.next++
	svc := registry.Service{ID: fmt.Sprintf("s%d", g.next), Name: g.serviceName(), EndpointMode: registry.ModeVIP,
		Ports: []registry.Port{{Name: "http", Protocol: "tcp", Target: 80}}, Networks: []registry.Attachment{{Network: "n1"}}}
	if g.r.IntN(3) == 0 {
		svc.EndpointMode = registry.ModeDNSRR
	}
	if g.r.IntN(2) == 0 {
		svc.Networks = append(svc.Networks, registry.Attachment{Network: "n2"})
	}
	if g.r.IntN(3) == 0 {
		svc.Networks[0].Aliases = []string{g.name()}
	}
	g.setVIPs(&svc)
	g.services = append(g.services, svc)
	for range g.r.IntN(5) {
		g.addTask(&g.services[len(g.services)-1])
	}
}

func (g *swarm) setVIPs(svc *registry.Service) {
	svc.VirtualIPs = nil
	if svc.EndpointMode == registry.ModeVIP {
		for _, a := range svc.Networks {
			svc.SetVIP(a.Network, g.addr(a.Network))
		}
	}
}

func (g *swarm) addTask(svc *registry.Service) {
	g.next++
	t := registry.Task{ID: fmt.Sprintf("T%d", g.next), ServiceID: svc.ID, Slot: 1 + g.r.IntN(4), NodeID: "node0", State: registry.TaskRunning}
	for _, a := range svc.Networks {
		t.AddAddrs(a.Network, g.addr(a.Network))
	}
	g.tasks = append(g.tasks, t)
}

func (g *swarm) serviceOf(t *registry.Task) *registry.Service {
	for i := range g.services {
		if g.services[i].ID == t.ServiceID {
			return &g.services[i]
		}
	}
	return nil
}

// mutate makes one change and says what it was.
func (g *swarm) mutate() string {
	if len(g.services) == 0 || len(g.tasks) == 0 {
		g.addService()
		return "add service"
	}
	si, ti := g.r.IntN(len(g.services)), g.r.IntN(len(g.tasks))
	svc, task := &g.services[si], &g.tasks[ti]
	switch op := g.r.IntN(100); {
	case op < 30:
		task.Addresses = nil
		if s := g.serviceOf(task); s != nil {
			for _, a := range s.Networks {
				task.AddAddrs(a.Network, g.addr(a.Network))
			}
		}
		return "task address " + task.ID
	case op < 40:
		task.State = map[string]string{registry.TaskRunning: "shutdown", "shutdown": registry.TaskRunning}[task.State]
		return "task state " + task.ID
	case op < 55:
		g.addTask(svc)
		return "task added to " + svc.ID
	case op < 65:
		id := task.ID
		g.tasks = slices.Delete(g.tasks, ti, ti+1)
		return "task removed " + id
	case op < 72:
		nets := slices.Clone(svc.Networks)
		nets[0].Aliases = nil
		if g.r.IntN(2) == 0 {
			nets[0].Aliases = []string{g.name()}
		}
		svc.Networks = nets
		return "alias of " + svc.ID
	case op < 78:
		svc.Name = g.serviceName()
		return "rename " + svc.ID
	case op < 82:
		g.setVIPs(svc)
		return "VIPs of " + svc.ID
	case op < 86:
		svc.Ports = []registry.Port{{Name: []string{"http", "grpc"}[g.r.IntN(2)], Protocol: "tcp", Target: uint16(80 + g.r.IntN(3))}}
		return "ports of " + svc.ID
	case op < 92:
		g.addService()
		return "add service"
	case op < 97:
		id := svc.ID
		g.services = slices.Delete(g.services, si, si+1)
		g.tasks = slices.DeleteFunc(g.tasks, func(t registry.Task) bool { return t.ServiceID == id })
		return "remove service " + id
	}
	nets := slices.Clone(g.networks)
	nets[1].Name = []string{"back", "back2"}[g.r.IntN(2)]
	g.networks = nets
	return "network name"
}

package registry

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// TestLayeredSnapshotsAnswerAsAFullBuild drives two stores with the same
// random chain of changes: one publishes overlays over its last full build
// where it can, the other builds every snapshot in full. After each change
// every name either has (and the suffixes of each, and names gone since)
// answers the same views, records, TTLs, policies and rotation, the same
// queries having advanced the same rotations in both; Names lists the same
// names with records, and EachRotated every rotated set answered.
func TestLayeredSnapshotsAnswerAsAFullBuild(t *testing.T) {
	cfgs := []struct {
		name string
		cfg  Config
	}{
		{"default", Config{}},
		{"local-weighted-max2", Config{PreferLocal: true, MaxAnswers: 2, Policy: "weighted"}},
		{"network-restricted", Config{Networks: []string{"front"}}},
		{"nameservers", Config{Nameservers: []Nameserver{{Name: "ns1.swarm.local", Addrs: []netip.Addr{netip.MustParseAddr("10.9.9.9")}}, {Name: "ns2.swarm.local", Addrs: []netip.Addr{netip.MustParseAddr("10.9.9.8")}}}}},
	}
	for _, fold := range []int{1 << 20, 8} {
		for i, c := range cfgs {
			if fold == 8 && i >= 2 {
				continue // folds do not depend on the configuration
			}
			t.Run(fmt.Sprintf("%s/fold-%d", c.name, fold), func(t *testing.T) {
				setFoldTasks(t, fold)
				layered, steps := 0, 0
				for seed := uint64(1); seed <= 3; seed++ {
					layered += driveBoth(t, c.cfg, seed, 50)
					steps += 50
				}
				t.Logf("%d of %d snapshots were layered", layered, steps)
				// Odd names and shared ones make some changes build in full.
				if layered < steps/5 {
					t.Errorf("%d of %d snapshots were layered", layered, steps)
				}
			})
		}
	}
}

// driveBoth runs one chain of changes and returns how many of its
// snapshots were layered.
func driveBoth(t *testing.T, cfg Config, seed uint64, steps int) int {
	t.Helper()
	stores := newLayeredAndFull(t, cfg)
	g := newRandomCluster(rand.New(rand.NewPCG(seed, 7)))
	r := rand.New(rand.NewPCG(seed, 8)) // which rotations queries advance
	stores.update(g.data(), false)
	probes := map[string]bool{}
	overlays := 0
	for step := 0; step < steps; step++ {
		what := g.mutate()
		ls, fs := stores.update(g.data(), step%7 == 3)
		if ls.over != nil {
			overlays++
		}
		checkSameAnswers(t, ls, fs, probes, r, g, fmt.Sprintf("seed %d step %d (%s)", seed, step, what))
	}
	return overlays
}

// setFoldTasks makes an overlay of n tasks start a fold, for the rest of t.
func setFoldTasks(t *testing.T, n int) {
	old := SetFoldTasks(n)
	t.Cleanup(func() { SetFoldTasks(old) })
}

// newTestStore is a Store of cfg in the domain swarm.local, TTL 5.
func newTestStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	cfg.Domain, cfg.TTL = "swarm.local", 5
	log, _ := test.NewNullLogger()
	s, err := NewStore(cfg, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// layeredAndFull are two Stores of one configuration, handed the same
// Data: one publishes overlays over its last full build where it can,
// the other builds every snapshot in full.
type layeredAndFull struct{ layered, full *Store }

func newLayeredAndFull(t *testing.T, cfg Config) layeredAndFull {
	t.Helper()
	full := newTestStore(t, cfg)
	full.layers.off = true
	return layeredAndFull{layered: newTestStore(t, cfg), full: full}
}

// update hands d to both stores and returns the snapshots they publish;
// with waitFold, once a fold of the layered store under way is done.
func (p layeredAndFull) update(d *Data, waitFold bool) (ls, fs *Snapshot) {
	p.layered.Update(d)
	p.full.Update(d)
	if waitFold {
		p.layered.waitFold()
	}
	return p.layered.Snapshot(), p.full.Snapshot()
}

// checkSameAnswers checks that the layered snapshot ls answers as fs, a
// full build of the same Data: every name of either (and the suffixes of
// each, and the probes, names met before) the same views, records, TTLs,
// policies and rotation, the same queries advancing the same rotations in
// both (as r picks); Names the same names with records, EachRotated every
// rotated set answered. It adds the names to probes.
func checkSameAnswers(t *testing.T, ls, fs *Snapshot, probes map[string]bool, r *rand.Rand, c *randomCluster, where string) {
	t.Helper()
	if ls.Stats().Services != fs.Stats().Services || ls.Stats().Tasks != fs.Stats().Tasks {
		t.Fatalf("%s: stats %+v, want %+v", where, ls.Stats(), fs.Stats())
	}
	maps.Copy(probes, probeKeys(ls, fs))
	keys := make([]string, 0, len(probes))
	for k := range probes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w, wok := fs.Lookup([]byte(k))
		g, gok := ls.Lookup([]byte(k))
		var wb, gb bytes.Buffer
		if wok {
			dumpName(&wb, w)
		}
		if gok {
			dumpName(&gb, g)
		}
		if wok != gok || !bytes.Equal(wb.Bytes(), gb.Bytes()) {
			t.Fatalf("%s, overlay %v: %s found %v answers\n%s\nwant found %v\n%s", where, ls.over != nil, k, gok, gb.String(), wok, wb.String())
		}
		// The same query in both advances the same rotations.
		if wok && r.IntN(4) == 0 {
			for i, v := range w.Views() {
				for _, set := range v.Sets() {
					set.Order(nil)
					g.Views()[i].Set(set.Type).Order(nil)
				}
			}
		}
	}
	for _, a := range c.clientAddrs() {
		if got, want := ls.ClientNetworks(a), fs.ClientNetworks(a); !slices.Equal(got, want) {
			t.Fatalf("%s: client %s networks %v, want %v", where, a, got, want)
		}
	}
	if got, want := namesWithRecords(ls), namesWithRecords(fs); !slices.Equal(got, want) {
		t.Fatalf("%s: Names lists %d names with records, want %d", where, len(got), len(want))
	}
	checkRotatedSets(t, ls, keys)
}

// probeKeys is every key the snapshots list, and the suffixes of each.
func probeKeys(snaps ...*Snapshot) map[string]bool {
	probes := map[string]bool{}
	for _, s := range snaps {
		s.Names(func(k string, _ Name) {
			for {
				probes[k] = true
				dot := strings.IndexByte(k, '.')
				if dot < 0 {
					break
				}
				k = k[dot+1:]
			}
		})
	}
	return probes
}

// stableDump is what a name answers in s, but for the rotation (other
// queries advance it): views, records, TTLs, policies, weights; "no
// name" where s has none.
func stableDump(s *Snapshot, key string) string {
	n, ok := s.Lookup([]byte(key))
	if !ok {
		return "no name"
	}
	var w bytes.Buffer
	for _, v := range n.Views() {
		fmt.Fprintf(&w, "view %q empty=%v\n", v.Network, v.Empty())
		for _, set := range v.Sets() {
			fmt.Fprintf(&w, "  %s ttl=%d policy=%s len=%d\n", dns.TypeToString[set.Type], set.TTL, set.Policy(), set.Len())
			for i := range set.Len() {
				fmt.Fprintf(&w, "    %x w=%d\n", set.Record(i), set.Weight(i))
			}
		}
	}
	return w.String()
}

// namesWithRecords returns the keys Names lists that have records, sorted
// (which empty non-terminals it lists depends on the layout).
func namesWithRecords(s *Snapshot) []string {
	var keys []string
	s.Names(func(k string, n Name) {
		for _, v := range n.Views() {
			if !v.Empty() {
				keys = append(keys, k)
				return
			}
		}
	})
	slices.Sort(keys)
	return keys
}

// checkRotatedSets checks that EachRotated lists every rotated set a name
// answers with, and no other.
func checkRotatedSets(t *testing.T, s *Snapshot, keys []string) {
	t.Helper()
	reached := map[*RRSet]bool{}
	for _, k := range keys {
		if n, ok := s.Lookup([]byte(k)); ok {
			for _, v := range n.Views() {
				for _, set := range v.Sets() {
					if set.rot != 0 {
						reached[set] = true
					}
				}
			}
		}
	}
	for _, v := range s.Apex().Views() {
		for _, set := range v.Sets() {
			if set.rot != 0 {
				reached[set] = true
			}
		}
	}
	listed := map[*RRSet]bool{}
	s.EachRotated(func(set *RRSet) { listed[set] = true })
	for set := range reached {
		if !listed[set] {
			t.Fatalf("EachRotated leaves out a set answered: %d records of type %d", set.Len(), set.Type)
		}
	}
}

// waitFold waits for a background full build to be done.
func (s *Store) waitFold() {
	for {
		s.mu.Lock()
		folding := s.layers.folding
		s.mu.Unlock()
		if !folding {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// randomCluster is a cluster that changes at random, a little at a time.
type randomCluster struct {
	r          *rand.Rand
	services   []Service
	tasks      []Task
	networks   []Network
	nodes      []Node
	containers []Container
	local      string
	next       int
	// spread: addresses from a larger range, fewer of them shared (for
	// many services that share little).
	spread bool
	// twice is a task copied to another service with its ID, given an ID
	// of its own at the next change.
	twice *Task
}

func newRandomCluster(r *rand.Rand) *randomCluster {
	g := &randomCluster{r: r, local: "node1"}
	g.networks = []Network{
		{ID: "n1", Name: "Front", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}},
		{ID: "n2", Name: "back", Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/64")}},
		{ID: "in", Name: "ingress", Ingress: true, Subnets: []netip.Prefix{netip.MustParsePrefix("10.255.0.0/16")}},
	}
	g.nodes = []Node{{ID: "node0", Hostname: "a"}, {ID: "node1", Hostname: "b", Labels: map[string]string{LabelWeight: "3"}}, {ID: "node2", Hostname: "c"}}
	for range 12 {
		g.addService()
	}
	g.containers = []Container{{ID: "c1", Addresses: []netip.Addr{netip.MustParseAddr("172.18.0.5")}, Networks: []string{"n2"}}}
	return g
}

// data returns the cluster as a source would hand it over: fresh lists.
func (g *randomCluster) data() *Data {
	return &Data{
		Services: slices.Clone(g.services), Tasks: slices.Clone(g.tasks), Networks: slices.Clone(g.networks),
		Nodes: slices.Clone(g.nodes), Containers: slices.Clone(g.containers), LocalNode: g.local,
	}
}

func (g *randomCluster) clientAddrs() []netip.Addr {
	return []netip.Addr{netip.MustParseAddr("172.18.0.5"), netip.MustParseAddr("172.18.0.6"), netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.0.0.9")}
}

// Service names and aliases, some shared; now and then one that can share
// names in other ways (a network's, a nameserver's, a task ID, two labels).
var (
	randomNames = []string{"web", "api", "db", "Cache", "Queue", "worker", "mail"}
	oddNames    = []string{"svc3", "t7", "front", "x.y", "ns1", "tasks"}
)

func (g *randomCluster) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *randomCluster) name() string {
	if g.r.IntN(60) == 0 {
		return g.pick(oddNames)
	}
	return g.pick(randomNames)
}

func (g *randomCluster) addr(network string) netip.Addr {
	share, third := 10, 4
	if g.spread {
		share, third = 60, 256
	}
	if g.r.IntN(share) == 0 && len(g.tasks) > 0 {
		// Now and then an address another task has.
		t := &g.tasks[g.r.IntN(len(g.tasks))]
		if a := t.AddrsOn(network); len(a) > 0 {
			return a[0]
		}
	}
	switch network {
	case "n1":
		return netip.AddrFrom4([4]byte{10, 0, byte(g.r.IntN(third)), byte(1 + g.r.IntN(250))})
	case "n2":
		if g.r.IntN(3) == 0 {
			return netip.AddrFrom16([16]byte{0: 0xfd, 14: byte(g.r.IntN(third)), 15: byte(1 + g.r.IntN(250))})
		}
		return netip.AddrFrom4([4]byte{10, 1, byte(g.r.IntN(third)), byte(1 + g.r.IntN(250))})
	}
	return netip.AddrFrom4([4]byte{10, 255, byte(g.r.IntN(third)), byte(1 + g.r.IntN(250))})
}

func (g *randomCluster) addService() {
	g.next++
	id := fmt.Sprintf("s%d", g.next)
	name := fmt.Sprintf("svc%d", g.next)
	if g.r.IntN(4) == 0 {
		name = g.name()
	}
	svc := Service{ID: id, Name: name, EndpointMode: ModeVIP, Ports: []Port{{Name: "http", Protocol: "tcp", Target: 80}}}
	if g.r.IntN(3) == 0 {
		svc.EndpointMode = ModeDNSRR
	}
	svc.Networks = []Attachment{{Network: "n1"}, {Network: "in"}}
	if g.r.IntN(3) == 0 {
		svc.Networks = append(svc.Networks, Attachment{Network: "n2"})
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

func (g *randomCluster) setVIPs(svc *Service) {
	svc.VirtualIPs = nil
	if svc.EndpointMode != ModeVIP {
		return
	}
	for _, a := range svc.Networks {
		svc.SetVIP(a.Network, g.addr(a.Network))
	}
}

func (g *randomCluster) addTask(svc *Service) {
	g.next++
	slot := 1 + g.r.IntN(4)
	if svc.Global {
		slot = 0
	}
	t := Task{ID: fmt.Sprintf("T%d", g.next), ServiceID: svc.ID, Slot: slot, NodeID: g.nodes[g.r.IntN(len(g.nodes))].ID, State: TaskRunning}
	for _, a := range svc.Networks {
		t.AddAddrs(a.Network, g.addr(a.Network))
	}
	g.tasks = append(g.tasks, t)
}

// mutate makes one change and says what it was.
func (g *randomCluster) mutate() string {
	r := g.r
	si, svc := g.pickService()
	if svc == nil {
		return "add service"
	}
	ti := -1
	if len(g.tasks) > 0 {
		ti = r.IntN(len(g.tasks))
	}
	switch op := r.IntN(100); {
	case op < 30 && ti >= 0:
		t := &g.tasks[ti]
		t.Addresses = nil
		g.readdress(t)
		return "task address " + t.ID
	case op < 40 && ti >= 0:
		return g.toggleState(&g.tasks[ti])
	case op < 48 && ti >= 0:
		old := g.tasks[ti]
		g.tasks = slices.Delete(g.tasks, ti, ti+1)
		if s := g.serviceOf(&old); s != nil {
			g.addTask(s)
			g.tasks[len(g.tasks)-1].Slot = old.Slot
		}
		return "task replaced " + old.ID
	case op < 55:
		g.addTask(svc)
		return "task added to " + svc.ID
	case op < 60 && ti >= 0:
		return g.removeTask(ti)
	case op < 68:
		return g.relabel(svc, LabelTTL, LabelScheduler, LabelWeight, LabelResolve, LabelPorts)
	case op < 74:
		return g.realias(svc, 2, g.name)
	case op < 78:
		svc.Name = g.pick([]string{g.name(), fmt.Sprintf("svc%d", 1000+si)})
		return "rename " + svc.ID
	case op < 81:
		g.setVIPs(svc)
		return "VIPs of " + svc.ID
	case op < 85:
		g.addService()
		return "add service"
	case op < 88:
		return g.removeService(si, r.IntN(2) == 0)
	case op < 91:
		r.Shuffle(len(g.tasks), func(i, j int) { g.tasks[i], g.tasks[j] = g.tasks[j], g.tasks[i] })
		return "tasks reordered"
	case op < 94:
		g.containers = []Container{{ID: "c1", Addresses: []netip.Addr{netip.AddrFrom4([4]byte{172, 18, 0, byte(5 + r.IntN(2))})}, Networks: []string{g.pick([]string{"n1", "n2"})}}}
		return "containers"
	case op < 96:
		nodes := slices.Clone(g.nodes)
		nodes[0].Labels = map[string]string{LabelWeight: fmt.Sprint(r.IntN(4))}
		g.nodes = nodes
		return "node weight"
	case op < 97:
		nets := slices.Clone(g.networks)
		nets[1].Name = g.pick([]string{"back", "Back2"})
		g.networks = nets
		return "network name"
	case ti >= 0:
		for i := range 1 + r.IntN(4) {
			g.readdress(&g.tasks[(ti+i)%len(g.tasks)])
		}
		return "several tasks"
	}
	return "nothing"
}

// pickService picks a service at random; where there is none, it adds
// one instead and returns none.
func (g *randomCluster) pickService() (int, *Service) {
	if len(g.services) == 0 {
		g.addService()
		return -1, nil
	}
	si := g.r.IntN(len(g.services))
	return si, &g.services[si]
}

// toggleState stops t if it runs, and starts it if not.
func (g *randomCluster) toggleState(t *Task) string {
	if t.State == TaskRunning {
		t.State = "shutdown"
	} else {
		t.State = TaskRunning
	}
	return "task state " + t.ID
}

// relabel gives svc one label, of a kind picked from kinds, in place of
// those it had.
func (g *randomCluster) relabel(svc *Service, kinds ...string) string {
	labels := map[string]string{}
	switch kind := kinds[g.r.IntN(len(kinds))]; kind {
	case LabelTTL:
		labels[kind] = fmt.Sprint(1 + g.r.IntN(30))
	case LabelScheduler:
		labels[kind] = g.pick([]string{"random", "weighted", "roundrobin"})
	case LabelWeight:
		labels[kind] = fmt.Sprint(g.r.IntN(3))
	case LabelResolve:
		labels[kind] = "tasks"
	case LabelPorts:
		labels[kind] = "dns:53/udp,grpc:9090"
	}
	svc.Labels = labels
	return "labels of " + svc.ID
}

// realias takes svc's alias on its first network away, or, one time in
// oneIn, gives it one that name picks.
func (g *randomCluster) realias(svc *Service, oneIn int, name func() string) string {
	nets := slices.Clone(svc.Networks)
	nets[0].Aliases = nil
	if g.r.IntN(oneIn) == 0 {
		nets[0].Aliases = []string{name()}
	}
	svc.Networks = nets
	return "alias of " + svc.ID
}

// removeTask removes the task at ti.
func (g *randomCluster) removeTask(ti int) string {
	id := g.tasks[ti].ID
	g.tasks = slices.Delete(g.tasks, ti, ti+1)
	return "task removed " + id
}

// removeService removes the service at si, and its tasks too withTasks.
func (g *randomCluster) removeService(si int, withTasks bool) string {
	id := g.services[si].ID
	g.services = slices.Delete(g.services, si, si+1)
	if withTasks {
		g.tasks = slices.DeleteFunc(g.tasks, func(t Task) bool { return t.ServiceID == id })
	}
	return "remove service " + id
}

// readdress gives t new addresses on its service's networks.
func (g *randomCluster) readdress(t *Task) {
	t.Addresses = nil
	nets := []Attachment{{Network: "n1"}}
	if s := g.serviceOf(t); s != nil {
		nets = s.Networks
	}
	for _, a := range nets {
		t.AddAddrs(a.Network, g.addr(a.Network))
	}
}

func (g *randomCluster) serviceOf(t *Task) *Service {
	for i := range g.services {
		if g.services[i].ID == t.ServiceID {
			return &g.services[i]
		}
	}
	return nil
}

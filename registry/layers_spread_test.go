package registry

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSpreadChangesAnswerAsAFullBuild publishes random chains of changes
// spread over many services (tasks added, removed, moved to another
// service, readdressed, stopped and started; services added, removed,
// relabelled, renamed, realiased, and put back as they first were; now
// and then a task ID twice), a
// few at a time, through a layered Store and through one that builds in
// full; after each publish the two answer every name alike (see
// checkSameAnswers). The overlay grows into many groups, each publish
// building only what changed since the one before. Meanwhile readers
// query the older layered snapshots, which must keep answering what they
// answered when published: run with -race, nothing published is written.
func TestSpreadChangesAnswerAsAFullBuild(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		fold int
	}{
		{"default", Config{}, 1 << 20},
		{"local-weighted-max3", Config{PreferLocal: true, Policy: "weighted", MaxAnswers: 3}, 1 << 20},
		{"network-restricted", Config{Networks: []string{"back"}}, 1 << 20},
		{"default/folds", Config{}, 120},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setFoldTasks(t, c.fold)
			var total spreadStats
			for seed := uint64(1); seed <= 2; seed++ {
				st := driveSpread(t, c.cfg, seed, 40)
				total.layered += st.layered
				total.steps += st.steps
				total.maxGroups = max(total.maxGroups, st.maxGroups)
				total.reads += st.reads
			}
			t.Logf("%d of %d snapshots layered, up to %d groups, %d reads of older snapshots", total.layered, total.steps, total.maxGroups, total.reads)
			if total.layered < total.steps*2/3 {
				t.Errorf("%d of %d snapshots were layered", total.layered, total.steps)
			}
			if total.maxGroups < 8 {
				t.Errorf("the overlay had %d groups at most: the changes were not spread", total.maxGroups)
			}
			if total.reads == 0 {
				t.Error("the readers read nothing")
			}
		})
	}
}

type spreadStats struct {
	layered, steps, maxGroups int
	reads                     int64
}

// driveSpread runs one chain of spread changes.
func driveSpread(t *testing.T, cfg Config, seed uint64, steps int) spreadStats {
	t.Helper()
	stores := newLayeredAndFull(t, cfg)
	g := newRandomCluster(rand.New(rand.NewPCG(seed, 17)))
	g.spread = true
	for range 60 {
		g.addService()
	}
	// Shared service names make the base index every name, and every
	// change build in full; a few aliases are shared.
	for i := range g.services {
		g.services[i].Name = fmt.Sprintf("app%d", i)
		if i%5 != 0 {
			g.services[i].Networks[0].Aliases = nil
		}
	}
	first := g.versions()
	r := rand.New(rand.NewPCG(seed, 18))
	stores.update(g.data(), false)
	past := newPastSnapshots()
	stop := past.read(t, 1, seed)
	defer stop()
	probes := map[string]bool{}
	st := spreadStats{steps: steps}
	for step := range steps {
		what := g.mutateSpread(first)
		ls, fs := stores.update(g.data(), step%11 == 5)
		if ls.over != nil {
			st.layered++
			st.maxGroups = max(st.maxGroups, len(ls.over.groups))
		}
		past.add(ls, probes)
		checkSameAnswers(t, ls, fs, probes, r, g, fmt.Sprintf("seed %d step %d (%s)", seed, step, what))
	}
	st.reads = stop()
	return st
}

// pastSnapshots are published snapshots, each with what some of its
// names answered when it was published, for readers to query again.
type pastSnapshots struct {
	mu    sync.Mutex // guards list, not the snapshots
	list  []pastSnapshot
	reads atomic.Int64
}

type pastSnapshot struct {
	snap *Snapshot
	keys []string
	want []string // the stable dump of each key
}

func newPastSnapshots() *pastSnapshots { return &pastSnapshots{} }

// add keeps s with the answers of up to 40 of the probes.
func (p *pastSnapshots) add(s *Snapshot, probes map[string]bool) {
	ps := pastSnapshot{snap: s}
	for k := range probes {
		if len(ps.keys) == 40 {
			break
		}
		ps.keys = append(ps.keys, k)
		ps.want = append(ps.want, stableDump(s, k))
	}
	p.mu.Lock()
	p.list = append(p.list, ps)
	p.mu.Unlock()
}

// read starts n readers; the function returned stops them and returns
// how many names they read.
func (p *pastSnapshots) read(t *testing.T, n int, seed uint64) func() int64 {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(100+i)))
			for {
				select {
				case <-done:
					return
				default:
				}
				p.mu.Lock()
				if len(p.list) == 0 {
					p.mu.Unlock()
					continue
				}
				ps := p.list[r.IntN(len(p.list))]
				p.mu.Unlock()
				for j, k := range ps.keys {
					if got := stableDump(ps.snap, k); got != ps.want[j] {
						t.Errorf("a published snapshot changed its answer for %s:\n%s\nwas\n%s", k, got, ps.want[j])
						return
					}
					p.reads.Add(1)
				}
				ps.snap.EachRotated(func(set *RRSet) { set.Peek(nil) })
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	var once sync.Once
	return func() int64 {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
		return p.reads.Load()
	}
}

// clusterVersions are the services of a cluster and their tasks, by
// service ID.
type clusterVersions map[string]clusterVersion

type clusterVersion struct {
	svc   Service
	tasks []Task
}

func (g *randomCluster) versions() clusterVersions {
	vs := clusterVersions{}
	for _, s := range g.services {
		v := clusterVersion{svc: s}
		for _, t := range g.tasks {
			if t.ServiceID == s.ID {
				v.tasks = append(v.tasks, t)
			}
		}
		vs[s.ID] = v
	}
	return vs
}

// mutateSpread changes one to three services, tasks and services alike,
// and says what it did; first are the services as they first were.
func (g *randomCluster) mutateSpread(first clusterVersions) string {
	var what []string
	if g.twice != nil {
		for i := range g.tasks {
			if t := &g.tasks[i]; t.ID == g.twice.ID && t.ServiceID == g.twice.ServiceID {
				g.next++
				t.ID = fmt.Sprintf("T%d", g.next)
				what = append(what, "task ID "+g.twice.ID+" once again")
				break
			}
		}
		g.twice = nil
	}
	for range 1 + g.r.IntN(3) {
		what = append(what, g.mutateService(first))
	}
	return fmt.Sprint(what)
}

func (g *randomCluster) mutateService(first clusterVersions) string {
	r := g.r
	si, svc := g.pickService()
	if svc == nil {
		return "add service"
	}
	var own []int
	for i := range g.tasks {
		if g.tasks[i].ServiceID == svc.ID {
			own = append(own, i)
		}
	}
	ti := -1
	if len(own) > 0 {
		ti = own[r.IntN(len(own))]
	}
	switch op := r.IntN(100); {
	case op < 25 && ti >= 0:
		g.readdress(&g.tasks[ti])
		return "task address " + g.tasks[ti].ID
	case op < 35 && ti >= 0:
		return g.toggleState(&g.tasks[ti])
	case op < 45:
		g.addTask(svc)
		return "task added to " + svc.ID
	case op < 53 && ti >= 0:
		return g.removeTask(ti)
	case op < 60 && ti >= 0:
		to := &g.services[r.IntN(len(g.services))]
		t := &g.tasks[ti]
		t.ServiceID = to.ID
		g.readdress(t)
		return "task " + t.ID + " moved to " + to.ID
	case op < 68:
		return g.relabel(svc, LabelTTL, LabelScheduler, LabelWeight, LabelPorts)
	case op < 73:
		return g.realias(svc, 3, func() string { return g.pick(randomNames) })
	case op < 78:
		g.next++
		svc.Name = fmt.Sprintf("app%d", 1000+g.next)
		if r.IntN(4) == 0 {
			svc.Name = g.pick(randomNames) // an alias's, or another's
		}
		return "rename " + svc.ID
	case op < 84:
		g.addService()
		g.services[len(g.services)-1].Name = fmt.Sprintf("app%d", g.next)
		return "add service"
	case op < 89:
		return g.removeService(si, r.IntN(3) > 0)
	case op < 95:
		return g.restore(first, si)
	case op < 97 && len(g.tasks) > 0 && g.twice == nil:
		// A task ID another task has, on another service (data no Swarm
		// makes, but a registry file can).
		t := g.tasks[r.IntN(len(g.tasks))]
		t.ServiceID = svc.ID
		g.readdress(&t)
		g.tasks = append(g.tasks, t)
		g.twice = &t
		return "task ID " + t.ID + " twice"
	}
	// A service's tasks in another order.
	if len(own) > 1 {
		i, j := own[0], own[len(own)-1]
		g.tasks[i], g.tasks[j] = g.tasks[j], g.tasks[i]
	}
	return "tasks of " + svc.ID + " reordered"
}

// restore puts the service at si back as it first was, with its tasks.
func (g *randomCluster) restore(first clusterVersions, si int) string {
	id := g.services[si].ID
	v, ok := first[id]
	if !ok {
		return "nothing to restore for " + id
	}
	g.services[si] = v.svc
	at := slices.IndexFunc(g.tasks, func(t Task) bool { return t.ServiceID == id })
	if at < 0 {
		at = len(g.tasks)
	}
	ids := map[string]bool{}
	for _, t := range v.tasks {
		ids[t.ID] = true
	}
	g.tasks = slices.DeleteFunc(g.tasks, func(t Task) bool { return t.ServiceID == id || ids[t.ID] })
	at = min(at, len(g.tasks))
	g.tasks = slices.Insert(g.tasks, at, v.tasks...)
	return "restore " + id
}

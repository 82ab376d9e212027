package registry

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestTaskIndexAnswersAsTheNameIndex holds a snapshot whose task names are
// in the task index to one with every name in the name index: for the
// golden registries, every name (the empty non-terminals under task names
// included) answers the same views, records and rotation, names that do
// not exist do not, and rotation carries over a rebuild the same way.
func TestTaskIndexAnswersAsTheNameIndex(t *testing.T) {
	for _, c := range inBothPackings(goldenCases(t)) {
		t.Run(c.name, func(t *testing.T) {
			c.packing(t)
			cfg := c.cfg
			cfg.Domain, cfg.TTL = "swarm.internal", 5
			if err := cfg.Check(); err != nil {
				t.Fatal(err)
			}
			all := cfg
			all.allNamesIndexed = true
			want, _ := Build(c.data, all, nil)
			got, _ := Build(c.data, cfg, nil)
			if got.tasks == nil {
				t.Fatal("the task index is not used")
			}
			sameAnswers(t, want, got)
			// Advance the same rotations in both, rebuild each on top.
			want.Names(func(k string, n Name) {
				g, _ := got.Lookup([]byte(k))
				for i, v := range n.Views() {
					for _, set := range v.Sets() {
						set.Order(nil)
						g.Views()[i].Set(set.Type).Order(nil)
					}
				}
			})
			want2, _ := Build(c.data, all, want)
			got2, _ := Build(c.data, cfg, got)
			sameAnswers(t, want2, got2)
		})
	}
}

// sameAnswers checks that got answers every name of want as want does,
// and has no other name.
func sameAnswers(t *testing.T, want, got *Snapshot) {
	t.Helper()
	var keys []string
	want.Names(func(k string, _ Name) { keys = append(keys, k) })
	probes := append([]string(nil), keys...)
	for _, k := range keys {
		// Names that do not exist: a label more, or the first one changed.
		probes = append(probes, "x."+k, "zz"+k)
	}
	for _, k := range probes {
		w, wok := want.Lookup([]byte(k))
		g, gok := got.Lookup([]byte(k))
		if wok != gok {
			t.Errorf("%s: found %v, want %v", k, gok, wok)
			continue
		}
		var wb, gb bytes.Buffer
		if wok {
			dumpName(&wb, w)
			dumpName(&gb, g)
		}
		if !bytes.Equal(wb.Bytes(), gb.Bytes()) {
			t.Errorf("%s answers\n%s\nwant\n%s", k, gb.String(), wb.String())
		}
	}
	// Names lists every name with records as the name index does, each
	// once; only the empty non-terminals under task names are left out.
	listed := map[string]bool{}
	got.Names(func(k string, _ Name) {
		if listed[k] {
			t.Errorf("%s: listed twice", k)
		}
		listed[k] = true
		if _, ok := want.Lookup([]byte(k)); !ok {
			t.Errorf("%s: a name only with the task index", k)
		}
	})
	want.Names(func(k string, n Name) {
		for _, v := range n.Views() {
			if !v.Empty() && !listed[k] {
				t.Errorf("%s: has records but is not listed", k)
				return
			}
		}
	})
	if got.Stats().Names != len(listed) {
		t.Errorf("stats count %d names, Names lists %d", got.Stats().Names, len(listed))
	}
}

// TestNamesLikeTaskNamesUseTheNameIndex: when another name ends like a
// task's name, or a task ID is a network's name, equal names must merge,
// so the snapshot puts every name in the name index; it answers as one
// built that way.
func TestNamesLikeTaskNamesUseTheNameIndex(t *testing.T) {
	task := func(id, svc, addr string) Task {
		return Task{ID: id, ServiceID: svc, Slot: 1, State: TaskRunning, Addresses: byNetwork(map[string][]netip.Addr{"n1": {netip.MustParseAddr(addr)}})}
	}
	nets := []Network{{ID: "n1", Name: "appnet"}}
	tests := []struct {
		name     string
		services []Service
		tasks    []Task
		nets     []Network
	}{
		{"a service named like a task ID, no network-scoped names",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}, {ID: "b", Name: "t1", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}},
			[]Task{task("t1", "a", "10.0.0.1"), task("t2", "b", "10.0.0.2")}, []Network{}},
		{"a service named like a task ID",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}, {ID: "b", Name: "t1", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}},
			[]Task{task("t1", "a", "10.0.0.1"), task("t2", "b", "10.0.0.2")}, nets},
		{"an alias that is another service's task name",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}, {ID: "b", Name: "db", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1", Aliases: []string{"web.1.t1"}}}}},
			[]Task{task("t1", "a", "10.0.0.1"), task("t2", "b", "10.0.0.2")}, nets},
		{"an alias that ends like a network-scoped task name",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}, {ID: "b", Name: "db", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1", Aliases: []string{"x.t1.appnet"}}}}},
			[]Task{task("t1", "a", "10.0.0.1"), task("t2", "b", "10.0.0.2")}, nets},
		{"an alias that is a reverse name",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1", Aliases: []string{"2.0.0.10.in-addr.arpa"}}}}},
			[]Task{task("t1", "a", "10.0.0.1"), task("t2", "a", "10.0.0.2")}, nets},
		{"an alias that is another service's slot name",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}, {ID: "b", Name: "db", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1", Aliases: []string{"1.web"}}}}},
			[]Task{task("t1", "a", "10.0.0.1"), task("t2", "b", "10.0.0.2")}, nets},
		{"two services with one name",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}, {ID: "b", Name: "WEB", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}},
			[]Task{task("t1", "a", "10.0.0.1"), task("t2", "b", "10.0.0.2")}, nets},
		{"a network named arpa",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}},
			[]Task{task("t1", "a", "10.0.0.1"), task("t2", "a", "10.0.0.2")}, []Network{{ID: "n1", Name: "arpa"}}},
		{"a task ID that is a network's name",
			[]Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}},
			[]Task{task("appnet", "a", "10.0.0.1"), task("t2", "a", "10.0.0.2")}, nets},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Data{Services: tc.services, Tasks: tc.tasks, Networks: tc.nets}
			cfg := Config{Domain: "swarm.internal", TTL: 5}
			if err := cfg.Check(); err != nil {
				t.Fatal(err)
			}
			got, _ := Build(d, cfg, nil)
			if got.tasks != nil {
				t.Fatal("built with the task index")
			}
			all := cfg
			all.allNamesIndexed = true
			want, _ := Build(d, all, nil)
			sameAnswers(t, want, got)
		})
	}
}

// TestDuplicateTaskIDsMerge: two tasks with one name (one ID in one slot
// of a service, from a hand-written file) have one name, with both
// addresses: the build puts every name in the name index, where they
// merge. One ID in two services is two names, in the task index.
func TestDuplicateTaskIDsMerge(t *testing.T) {
	task := func(id, svc, addr string) Task {
		return Task{ID: id, ServiceID: svc, Slot: 1, State: TaskRunning, Addresses: byNetwork(map[string][]netip.Addr{"n1": {netip.MustParseAddr(addr)}})}
	}
	global := func(id, addr string) Task {
		t := task(id, "a", addr)
		t.Slot, t.NodeID = 0, "node1"
		return t
	}
	web := Service{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	db := Service{ID: "b", Name: "db", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	tests := []struct {
		name      string
		services  []Service
		tasks     []Task
		taskIndex bool
		probe     string
		records   int
	}{
		{"one name twice", []Service{web}, []Task{task("t1", "a", "10.0.0.1"), task("T1", "a", "10.0.0.2")}, false, "web.1.t1", 2},
		{"one name twice in a global service", []Service{web}, []Task{global("t1", "10.0.0.1"), global("t1", "10.0.0.2")}, false, "web.node1.t1", 2},
		{"one ID in two services", []Service{web, db}, []Task{task("t1", "a", "10.0.0.1"), task("t1", "b", "10.0.0.2")}, true, "db.1.t1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Data{Networks: []Network{{ID: "n1", Name: "appnet"}}, Services: tt.services, Tasks: tt.tasks}
			cfg := Config{Domain: "swarm.internal", TTL: 5}
			if err := cfg.Check(); err != nil {
				t.Fatal(err)
			}
			got, _ := Build(d, cfg, nil)
			if (got.tasks != nil) != tt.taskIndex {
				t.Fatalf("task index used: %v, want %v", got.tasks != nil, tt.taskIndex)
			}
			if n := lookup(got, tt.probe).A.Len(); n != tt.records {
				t.Fatalf("%s has %d records, want %d", tt.probe, n, tt.records)
			}
			all := cfg
			all.allNamesIndexed = true
			want, _ := Build(d, all, nil)
			sameAnswers(t, want, got)
		})
	}
}

func TestParseReverseTakesOnlyTheCanonicalForm(t *testing.T) {
	tests := []struct {
		key  string
		want string // "" for not a reverse name of an address
	}{
		{"4.3.2.1.in-addr.arpa", "1.2.3.4"},
		{"0.0.0.0.in-addr.arpa", "0.0.0.0"},
		{"255.255.255.255.in-addr.arpa", "255.255.255.255"},
		{"04.3.2.1.in-addr.arpa", ""},
		{"256.3.2.1.in-addr.arpa", ""},
		{"3.2.1.in-addr.arpa", ""},
		{"5.4.3.2.1.in-addr.arpa", ""},
		{".3.2.1.in-addr.arpa", ""},
		{"a.3.2.1.in-addr.arpa", ""},
		{"in-addr.arpa", ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "fd00::1"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.F.ip6.arpa", ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", ""},
		{"4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", ""}, // a mapped v4 is written in-addr
		{"svc.swarm", ""},
	}
	for _, tc := range tests {
		a, ok := parseReverse([]byte(tc.key))
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestManySlotsAnswerAsTheNameIndex: a service with more slots than a
// linear scan handles, some slots with two tasks (a rolling update).
func TestManySlotsAnswerAsTheNameIndex(t *testing.T) {
	d := &Data{
		Networks: []Network{{ID: "n1", Name: "appnet"}},
		Services: []Service{{ID: "a", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}},
	}
	for i := 0; i < 100; i++ {
		tk := Task{ID: fmt.Sprintf("t%d", i), ServiceID: "a", Slot: 1 + (i*7)%90, State: TaskRunning}
		tk.AddAddrs("n1", netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}))
		d.Tasks = append(d.Tasks, tk)
	}
	cfg := Config{Domain: "swarm.internal", TTL: 5}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	got, _ := Build(d, cfg, nil)
	if got.slots == nil {
		t.Fatal("the slot index is not used")
	}
	all := cfg
	all.allNamesIndexed = true
	want, _ := Build(d, all, nil)
	sameAnswers(t, want, got)
	for _, k := range []string{"01.web", "0.web", "91.web", "1.web.x", "99999999999.web"} {
		if _, ok := got.Lookup([]byte(k)); ok {
			t.Errorf("%s found", k)
		}
	}
}

// TestParseReverseRoundTrips: every address's reverse name parses back to
// it, and nothing else in that form does.
func TestParseReverseRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(i), byte(i >> 8)})
		} else {
			var v [16]byte
			for k := range v {
				v[k] = byte(r.Uint32())
			}
			a = netip.AddrFrom16(v).Unmap()
		}
		key := appendReverse(nil, a)
		got, ok := parseReverse(key)
		if !ok || got != a {
			t.Fatalf("%s: parsed %v %v, want %v", key, got, ok, a)
		}
	}
}

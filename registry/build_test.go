package registry

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// records decodes the packed records of set into their data, in the
// order given (all records when order is nil).
func records(t *testing.T, set *RRSet, order []int) []string {
	t.Helper()
	if set == nil {
		return nil
	}
	if order == nil {
		for i := 0; i < set.Len(); i++ {
			order = append(order, i)
		}
	}
	var out []string
	for _, i := range order {
		// A message whose question "q." sits at offset 12, for 0xC00C.
		msg := []byte{0, 0, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'q', 0, 0, 1, 0, 1}
		msg = append(msg, set.Record(i)...)
		m := new(dns.Msg)
		if err := m.Unpack(msg); err != nil {
			t.Fatalf("record %d does not unpack: %v", i, err)
		}
		rr := m.Answer[0]
		out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	return out
}

func exampleSnapshot(t *testing.T, cfg Config) *Snapshot {
	t.Helper()
	d, err := LoadFile("../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Domain == "" {
		cfg.Domain = "swarm.internal"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	s, warnings := Build(d, cfg, nil)
	if len(warnings) > 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	return s
}

func lookup(s *Snapshot, key string, nets ...string) *View {
	n, ok := s.Lookup([]byte(key))
	if !ok {
		return nil
	}
	return n.View(nets)
}

func TestNameFormsAnswerDockersRecords(t *testing.T) {
	s := exampleSnapshot(t, Config{})
	tests := []struct {
		name  string
		key   string
		qtype uint16
		nets  []string
		want  []string // sorted record data
	}{
		{"vip service name answers its VIP", "web", dns.TypeA, nil, []string{"10.0.1.2"}},
		{"tasks prefix answers every running task", "tasks.web", dns.TypeA, nil, []string{"10.0.1.11", "10.0.1.12", "10.0.1.13"}},
		{"tasks prefix answers IPv6 task addresses as AAAA", "tasks.web", dns.TypeAAAA, nil, []string{"fd00:1::11", "fd00:1::12"}},
		{"dnsrr service name answers every running task", "api", dns.TypeA, nil, []string{"10.0.1.21", "10.0.1.22"}},
		{"network suffix restricts to that network", "db.backnet", dns.TypeA, nil, []string{"10.0.2.3"}},
		{"tasks with network suffix restricts tasks", "tasks.db.appnet", dns.TypeA, nil, []string{"10.0.1.31"}},
		{"host client sees a service's VIPs on every network", "db", dns.TypeA, nil, []string{"10.0.1.3", "10.0.2.3"}},
		{"client on backnet sees the backnet VIP", "db", dns.TypeA, []string{"net-back"}, []string{"10.0.2.3"}},
		{"client on appnet sees the appnet VIP", "db", dns.TypeA, []string{"net-app"}, []string{"10.0.1.3"}},
		{"alias answers like the service on its network", "shop-db", dns.TypeA, nil, []string{"10.0.1.3"}},
		{"tasks prefix works on aliases", "tasks.primary", dns.TypeA, nil, []string{"10.0.2.31"}},
		{"task name answers that task", "web.2.webtask2", dns.TypeA, nil, []string{"10.0.1.12"}},
		{"task name with network suffix", "web.2.webtask2.appnet", dns.TypeA, nil, []string{"10.0.1.12"}},
		{"global task is named by node", "agent.node-b.agenttask2", dns.TypeA, nil, []string{"10.0.2.42"}},
		{"slot name answers the task in that slot", "3.web", dns.TypeA, nil, []string{"10.0.1.13"}},
		{"task PTR names Docker's container name", "11.1.0.10.in-addr.arpa", dns.TypePTR, nil, []string{"web.1.webtask1.appnet."}},
		{"VIP PTR names the service on its network", "2.1.0.10.in-addr.arpa", dns.TypePTR, nil, []string{"web.appnet."}},
		{"IPv6 task PTR", "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa", dns.TypePTR, nil, []string{"web.1.webtask1.appnet."}},
		{"named port SRV targets tasks with their weights", "_http._tcp.web", dns.TypeSRV, nil, []string{
			"0 1 80 web.1.webtask1.swarm.internal.", "0 3 80 web.2.webtask2.swarm.internal.", "0 3 80 web.3.webtask3.swarm.internal."}},
		{"unnamed port SRV is named by number, weights 2 and 6 reduced to 1 and 3", "_8080._tcp.api", dns.TypeSRV, nil, []string{
			"0 1 8080 api.1.apitask1.swarm.internal.", "0 3 8080 api.2.apitask2.swarm.internal."}},
		{"SRV on the service name lists every task on the first port", "api", dns.TypeSRV, nil, []string{
			"0 1 9090 api.1.apitask1.swarm.internal.", "0 3 9090 api.2.apitask2.swarm.internal."}},
		{"SRV on an alias", "_postgres._tcp.shop-db", dns.TypeSRV, nil, []string{"0 1 5432 db.1.dbtask1.swarm.internal."}},
		{"a starting task is not published", "4.web", dns.TypeA, nil, nil},
		{"a vip service has no AAAA without an IPv6 VIP", "web", dns.TypeAAAA, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := lookup(s, tc.key, tc.nets...)
			if v == nil {
				if tc.want == nil {
					return
				}
				t.Fatalf("%s not found", tc.key)
			}
			got := records(t, v.Set(tc.qtype), nil)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%s %s = %q, want %q", tc.key, dns.TypeToString[tc.qtype], got, tc.want)
			}
		})
	}
}

func TestTTLLabelOverridesTheDefault(t *testing.T) {
	s := exampleSnapshot(t, Config{TTL: 30})
	if ttl := lookup(s, "api").A.TTL; ttl != 2 {
		t.Fatalf("api TTL %d, want the label's 2", ttl)
	}
	if ttl := lookup(s, "web").A.TTL; ttl != 30 {
		t.Fatalf("web TTL %d, want the default 30", ttl)
	}
}

func TestSRVGlueCarriesTheTargetsAddresses(t *testing.T) {
	s := exampleSnapshot(t, Config{})
	set := lookup(s, "_http._tcp.web").SRV
	for i := 0; i < set.Len(); i++ {
		if set.Info(i) == "webtask1" {
			if glue, n := set.Extra(i); n != 2 || !strings.Contains(string(glue), "webtask1") {
				t.Fatalf("glue of webtask1: %d records %q", n, glue)
			}
			return
		}
	}
	t.Fatal("webtask1 not in SRV")
}

func TestEmptyNonTerminalsExist(t *testing.T) {
	s := exampleSnapshot(t, Config{})
	for _, key := range []string{"_tcp.web", "1.webtask1", "webtask1"} {
		v := lookup(s, key)
		if v == nil || !v.Empty() {
			t.Fatalf("%s: want an empty name, got %v", key, v)
		}
	}
}

func data(services []Service, tasks []Task, nodes ...Node) *Data {
	return &Data{
		Networks: []Network{{ID: "n1", Name: "net1", Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}, {ID: "ing", Name: "ingress", Ingress: true}},
		Services: services, Tasks: tasks, Nodes: nodes,
	}
}

func addrs(a ...string) []NetworkAddrs {
	var t Task
	for _, s := range a {
		t.AddAddrs("n1", netip.MustParseAddr(s))
	}
	return t.Addresses
}

func build(t *testing.T, d *Data, cfg Config, prev *Snapshot) *Snapshot {
	t.Helper()
	if cfg.Domain == "" {
		cfg.Domain = "swarm.internal."
	}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	s, _ := Build(d, cfg, prev)
	return s
}

func TestWeightZeroDrainsUnlessNothingElseIsLeft(t *testing.T) {
	svc := Service{ID: "s", Name: "svc", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	nodes := []Node{{ID: "busy", Labels: map[string]string{LabelWeight: "0"}}, {ID: "free"}}
	both := []Task{
		{ID: "t1", ServiceID: "s", Slot: 1, NodeID: "busy", State: TaskRunning, Addresses: addrs("10.1.0.1")},
		{ID: "t2", ServiceID: "s", Slot: 2, NodeID: "free", State: TaskRunning, Addresses: addrs("10.1.0.2")},
	}
	s := build(t, data([]Service{svc}, both, nodes...), Config{}, nil)
	if got := records(t, lookup(s, "svc").A, nil); !slices.Equal(got, []string{"10.1.0.2"}) {
		t.Fatalf("with a drained node: %v", got)
	}
	s = build(t, data([]Service{svc}, both[:1], nodes...), Config{}, nil)
	if got := records(t, lookup(s, "svc").A, nil); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Fatalf("with only the drained node: %v", got)
	}
}

func TestRotationSurvivesASwapWhenEndpointsAreUnchanged(t *testing.T) {
	svc := Service{ID: "s", Name: "svc", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	tasks := []Task{
		{ID: "t1", ServiceID: "s", Slot: 1, State: TaskRunning, Addresses: addrs("10.1.0.1")},
		{ID: "t2", ServiceID: "s", Slot: 2, State: TaskRunning, Addresses: addrs("10.1.0.2")},
		{ID: "t3", ServiceID: "s", Slot: 3, State: TaskRunning, Addresses: addrs("10.1.0.3")},
	}
	s1 := build(t, data([]Service{svc}, tasks), Config{}, nil)
	first := func(s *Snapshot) string { set := lookup(s, "svc").A; return records(t, set, set.Order(nil)[:1])[0] }
	if got := first(s1); got != "10.1.0.1" {
		t.Fatalf("first answer starts with %s", got)
	}
	s2 := build(t, data([]Service{svc}, tasks), Config{}, s1)
	if got := first(s2); got != "10.1.0.2" {
		t.Fatalf("after an unchanged swap the rotation restarted: %s", got)
	}
	// Another service changing leaves this rotation alone too.
	other := Service{ID: "o", Name: "other", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	s3 := build(t, data([]Service{svc, other}, tasks), Config{}, s2)
	if got := first(s3); got != "10.1.0.3" {
		t.Fatalf("after another service changed: %s", got)
	}
	s4 := build(t, data([]Service{svc}, tasks[:2]), Config{}, s3)
	if got := first(s4); got != "10.1.0.1" {
		t.Fatalf("a changed set should start afresh: %s", got)
	}
}

func TestPreferLocalPutsThisNodesTasksFirst(t *testing.T) {
	svc := Service{ID: "s", Name: "svc", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	tasks := []Task{
		{ID: "t1", ServiceID: "s", Slot: 1, NodeID: "far", State: TaskRunning, Addresses: addrs("10.1.0.1")},
		{ID: "t2", ServiceID: "s", Slot: 2, NodeID: "here", State: TaskRunning, Addresses: addrs("10.1.0.2")},
		{ID: "t3", ServiceID: "s", Slot: 3, NodeID: "far", State: TaskRunning, Addresses: addrs("10.1.0.3")},
		{ID: "t4", ServiceID: "s", Slot: 4, NodeID: "here", State: TaskRunning, Addresses: addrs("10.1.0.4")},
	}
	d := data([]Service{svc}, tasks)
	d.LocalNode = "here"
	s := build(t, d, Config{PreferLocal: true}, nil)
	set := lookup(s, "svc").A
	seen := map[string]int{}
	for q := 0; q < 4; q++ {
		got := records(t, set, set.Order(nil))
		local := []string{got[0], got[1]}
		slices.Sort(local)
		if !slices.Equal(local, []string{"10.1.0.2", "10.1.0.4"}) {
			t.Fatalf("query %d: %v does not start with the local tasks", q, got)
		}
		seen[got[0]]++
	}
	if seen["10.1.0.2"] != 2 || seen["10.1.0.4"] != 2 {
		t.Fatalf("local tasks do not rotate: %v", seen)
	}
	srv := records(t, lookup(s, "svc").SRV, nil)
	for _, r := range srv {
		local := strings.Contains(r, ".2.t2.") || strings.Contains(r, ".4.t4.")
		if local != strings.HasPrefix(r, "0 ") {
			t.Fatalf("SRV %q: local tasks get priority 0, others 1", r)
		}
	}
}

func TestNetworkFlagRestrictsTheDefaultView(t *testing.T) {
	s := exampleSnapshot(t, Config{Networks: []string{"backnet"}})
	if got := records(t, lookup(s, "db").A, nil); !slices.Equal(got, []string{"10.0.2.3"}) {
		t.Fatalf("db with --network backnet: %v", got)
	}
	if got := records(t, lookup(s, "db", "net-app").A, nil); !slices.Equal(got, []string{"10.0.1.3"}) {
		t.Fatalf("db from appnet: %v", got)
	}
	if v := lookup(s, "web"); !v.Empty() {
		t.Fatal("web is on appnet only: the default view must be empty")
	}
}

func TestClientNetworksFromSubnetsAndContainers(t *testing.T) {
	d, _ := LoadFile("../examples/registry.yaml")
	d.Containers = []Container{{ID: "c", Addresses: []netip.Addr{netip.MustParseAddr("172.18.0.5")}, Networks: []string{"net-back"}}}
	s := build(t, d, Config{}, nil)
	tests := []struct {
		addr string
		want []string
	}{
		{"10.0.1.77", []string{"net-app"}},
		{"10.0.2.77", []string{"net-back"}},
		{"172.18.0.5", []string{"net-back"}},
		{"127.0.0.1", nil},
		{"::ffff:10.0.1.77", []string{"net-app"}},
	}
	for _, tc := range tests {
		if got := s.ClientNetworks(netip.MustParseAddr(tc.addr)); !slices.Equal(got, tc.want) {
			t.Errorf("client %s: networks %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestBadLabelsWarnAndFallBack(t *testing.T) {
	svc := Service{ID: "s", Name: "svc", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}},
		Labels: map[string]string{LabelTTL: "x", LabelScheduler: "fastest", LabelWeight: "-1", LabelPorts: "a:b"}}
	cfg := Config{Domain: "swarm.internal", TTL: 7}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	tasks := []Task{{ID: "t1", ServiceID: "s", Slot: 1, State: TaskRunning, Addresses: addrs("10.1.0.1")}}
	s, warnings := Build(data([]Service{svc}, tasks), cfg, nil)
	if len(warnings) != 4 {
		t.Fatalf("warnings %v, want one per bad label", warnings)
	}
	set := lookup(s, "svc").A
	if set.TTL != 7 || set.Policy() != "roundrobin" || set.Len() != 1 {
		t.Fatalf("fallbacks not applied: ttl %d policy %s", set.TTL, set.Policy())
	}
}

func TestMaxAnswersCutsAnswers(t *testing.T) {
	s := exampleSnapshot(t, Config{MaxAnswers: 1})
	set := lookup(s, "tasks.web").A
	if got := set.Order(nil); len(got) != 1 {
		t.Fatalf("%d records with --max-answers 1", len(got))
	}
}

func TestIngressGetsNoNames(t *testing.T) {
	svc := Service{ID: "s", Name: "svc", Networks: []Attachment{{Network: "n1"}, {Network: "ing"}},
		VirtualIPs: vips(map[string]netip.Addr{"n1": netip.MustParseAddr("10.1.0.2"), "ing": netip.MustParseAddr("10.255.0.2")})}
	s := build(t, data([]Service{svc}, nil), Config{}, nil)
	if got := records(t, lookup(s, "svc").A, nil); !slices.Equal(got, []string{"10.1.0.2"}) {
		t.Fatalf("svc: %v", got)
	}
	if lookup(s, "svc.ingress") != nil || lookup(s, "2.0.255.10.in-addr.arpa") != nil {
		t.Fatal("ingress names published")
	}
}

func TestTasksAnswerUnderTheirServiceInAnyOrder(t *testing.T) {
	svcs := []Service{
		{ID: "a", Name: "alpha", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}},
		{ID: "b", Name: "beta", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}},
	}
	task := func(id, svc, addr, state string) Task {
		return Task{ID: id, ServiceID: svc, State: state, Addresses: addrs(addr)}
	}
	tests := []struct {
		name       string
		tasks      []Task
		alpha, bet []string
		running    int
	}{
		{"grouped", []Task{task("t1", "a", "10.1.0.1", TaskRunning), task("t2", "a", "10.1.0.2", TaskRunning), task("t3", "b", "10.1.0.3", TaskRunning)},
			[]string{"10.1.0.1", "10.1.0.2"}, []string{"10.1.0.3"}, 3},
		{"interleaved", []Task{task("t1", "a", "10.1.0.1", TaskRunning), task("t3", "b", "10.1.0.3", TaskRunning), task("t2", "a", "10.1.0.2", TaskRunning)},
			[]string{"10.1.0.1", "10.1.0.2"}, []string{"10.1.0.3"}, 3},
		{"not running and unknown services are skipped", []Task{task("t0", "a", "10.1.0.9", "shutdown"), task("t1", "a", "10.1.0.1", TaskRunning),
			task("tx", "gone", "10.1.0.8", TaskRunning), task("t3", "b", "10.1.0.3", TaskRunning)},
			[]string{"10.1.0.1"}, []string{"10.1.0.3"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, data(svcs, tt.tasks), Config{}, nil)
			if got := records(t, lookup(s, "alpha").A, nil); !slices.Equal(got, tt.alpha) {
				t.Errorf("alpha: %v, want %v", got, tt.alpha)
			}
			if got := records(t, lookup(s, "beta").A, nil); !slices.Equal(got, tt.bet) {
				t.Errorf("beta: %v, want %v", got, tt.bet)
			}
			if got := s.Stats().Tasks; got != tt.running {
				t.Errorf("running tasks: %d, want %d", got, tt.running)
			}
		})
	}
}

// An address two tasks share (each on its own network with one subnet)
// has one reverse name with both targets: with the smaller TTL, rotated,
// and its rotation kept over an unchanged swap, with or without the
// address index.
func TestSharedAddressReverseNameHasEveryTarget(t *testing.T) {
	svcs := []Service{
		{ID: "a", Name: "alpha", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}, Labels: map[string]string{LabelTTL: "30"}},
		{ID: "b", Name: "beta", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n2"}}, Labels: map[string]string{LabelTTL: "20"}},
	}
	on := func(net, addr string) []NetworkAddrs {
		var t Task
		t.AddAddrs(net, netip.MustParseAddr(addr))
		return t.Addresses
	}
	tasks := []Task{
		{ID: "ta", ServiceID: "a", Slot: 1, State: TaskRunning, Addresses: on("n1", "10.9.0.5")},
		{ID: "tb", ServiceID: "b", Slot: 1, State: TaskRunning, Addresses: on("n2", "10.9.0.5")},
	}
	d := data(svcs, tasks)
	d.Networks = append(d.Networks, Network{ID: "n2", Name: "net2"})
	defer func(batch int) { workerBatchServices = batch }(workerBatchServices)
	for _, run := range []struct {
		all   bool
		batch int
	}{{false, 256}, {false, 1}, {true, 256}} {
		all := run.all
		workerBatchServices = run.batch
		cfg := Config{allNamesIndexed: all}
		s1 := build(t, d, cfg, nil)
		set := lookup(s1, "5.0.9.10.in-addr.arpa").PTR
		if set == nil || set.TTL != 20 {
			t.Fatalf("all names indexed %v: PTR set %+v, want TTL 20", all, set)
		}
		got := records(t, set, nil)
		if want := []string{"alpha.1.ta.net1.", "beta.1.tb.net2."}; !slices.Equal(got, want) {
			t.Fatalf("all names indexed %v: targets %v, want %v", all, got, want)
		}
		firstTarget := func(s *Snapshot) string {
			set := lookup(s, "5.0.9.10.in-addr.arpa").PTR
			return records(t, set, set.Order(nil)[:1])[0]
		}
		before := firstTarget(s1)
		s2 := build(t, d, cfg, s1)
		if after := firstTarget(s2); after == before {
			t.Fatalf("all names indexed %v: rotation restarted after an unchanged swap (%s)", all, after)
		}
	}
}

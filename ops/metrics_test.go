package ops

import (
	"errors"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server"
)

// startDNS serves the fixture's handler on loopback UDP and TCP.
func startDNS(t *testing.T, f *fixture) *server.Server {
	t.Helper()
	srv := &server.Server{Handler: f.handler, Addr: "127.0.0.1:0", Log: quietLog(), Readers: 1}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	return srv
}

func exchange(t *testing.T, srv *server.Server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	resp, _, err := new(dns.Client).Exchange(q, srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// scrape returns the /metrics body.
func (f *fixture) scrape(t *testing.T) string {
	t.Helper()
	code, body := f.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	return body
}

func TestObserveCounts(t *testing.T) {
	tests := []struct {
		name  string
		ev    server.Event
		lines []string
	}{
		{"zone A NOERROR over UDP", server.Event{Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Path: server.PathZone, Size: 100, Took: 20 * time.Microsecond},
			[]string{`swarmdns_queries_total{path="zone",qtype="A",rcode="NOERROR"} 1`, `swarmdns_query_duration_seconds_bucket{path="zone",le="2.5e-05"} 1`, `swarmdns_response_size_bytes_bucket{proto="udp",le="128"} 1`}},
		{"zone SRV NXDOMAIN over TCP", server.Event{Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Path: server.PathZone, TCP: true, Size: 900},
			[]string{`swarmdns_queries_total{path="zone",qtype="SRV",rcode="NXDOMAIN"} 1`, `swarmdns_response_size_bytes_bucket{proto="tcp",le="1024"} 1`}},
		{"an uncommon qtype is other", server.Event{Qtype: dns.TypeMX, Rcode: dns.RcodeRefused, Path: server.PathRefused},
			[]string{`swarmdns_queries_total{path="refused",qtype="other",rcode="REFUSED"} 1`}},
		{"an uncommon rcode is other", server.Event{Qtype: dns.TypeAAAA, Rcode: dns.RcodeYXDomain, Path: server.PathForwarded},
			[]string{`swarmdns_queries_total{path="forwarded",qtype="AAAA",rcode="other"} 1`}},
		{"BADVERS keeps its name", server.Event{Qtype: dns.TypeA, Rcode: dns.RcodeBadVers, Path: server.PathError},
			[]string{`swarmdns_queries_total{path="error",qtype="A",rcode="BADVERS"} 1`}},
		{"a truncated UDP reply counts", server.Event{Qtype: dns.TypeA, Path: server.PathZone, Truncated: true},
			[]string{`swarmdns_truncated_responses_total{proto="udp"} 1`, `swarmdns_truncated_responses_total{proto="tcp"} 0`}},
		{"an unknown path is an error", server.Event{Qtype: dns.TypeANY, Path: server.Path(200)},
			[]string{`swarmdns_queries_total{path="error",qtype="ANY",rcode="NOERROR"} 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true, 0)
			f.metrics.Observe(&tt.ev)
			body := f.scrape(t)
			for _, l := range tt.lines {
				if !strings.Contains(body, l+"\n") {
					t.Errorf("missing %s", l)
				}
			}
		})
	}
}

func TestQuerySeriesAppearWithTheirFirstQuery(t *testing.T) {
	series := func(body string) []string {
		var out []string
		for l := range strings.Lines(body) {
			if strings.HasPrefix(l, "swarmdns_queries_total{") {
				out = append(out, strings.TrimSpace(l))
			}
		}
		return out
	}
	f := newFixture(t, true, 0)
	if got := series(f.scrape(t)); len(got) != 0 {
		t.Fatalf("before any query: %d series, want none: %q", len(got), got)
	}
	zoneA := server.Event{Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Path: server.PathZone}
	refused := server.Event{Qtype: dns.TypeMX, Rcode: dns.RcodeRefused, Path: server.PathRefused}
	f.metrics.Observe(&zoneA)
	f.metrics.Observe(&zoneA)
	f.metrics.Observe(&refused)
	want := []string{
		`swarmdns_queries_total{path="refused",qtype="other",rcode="REFUSED"} 1`,
		`swarmdns_queries_total{path="zone",qtype="A",rcode="NOERROR"} 2`,
	}
	if got := series(f.scrape(t)); !slices.Equal(got, want) {
		t.Errorf("after three queries: %q, want %q", got, want)
	}
}

func TestRegistryMetrics(t *testing.T) {
	tests := []struct {
		name    string
		synced  bool
		prepare func(f *fixture)
		want    []string
		absent  []string
	}{
		{"before the first sync there are no registry gauges", false, nil,
			[]string{"swarmdns_snapshot_swaps_total 0", "swarmdns_sync_errors_total 0"},
			[]string{"swarmdns_registry_services ", "swarmdns_seconds_since_last_sync "}},
		{"after a sync the gauges count the snapshot", true, nil,
			[]string{"swarmdns_registry_services 2", "swarmdns_registry_tasks 4", "swarmdns_registry_names ", "swarmdns_snapshot_swaps_total 1",
				`swarmdns_registry_services_by_scheduler{scheduler="weighted"} 1`, `swarmdns_registry_services_by_scheduler{scheduler="roundrobin"} 1`,
				`swarmdns_registry_services_by_scheduler{scheduler="random"} 0`, "swarmdns_seconds_since_last_sync ",
				"swarmdns_snapshot_build_duration_seconds_count 1"}, nil},
		{"a healthy watched file is current however long ago it loaded", true, func(f *fixture) {
			f.store.Describe(registry.SourceInfo{Kind: "file", Origin: "registry.yaml"})
			time.Sleep(5 * time.Millisecond)
		}, []string{"swarmdns_seconds_since_last_sync 0\n"}, nil},
		{"a watched file ages from its first failed reload", true, func(f *fixture) {
			f.store.Describe(registry.SourceInfo{Kind: "file", Origin: "registry.yaml"})
			f.store.Failed(errors.New("bad file"))
			time.Sleep(5 * time.Millisecond)
		}, []string{"swarmdns_seconds_since_last_sync "}, []string{"swarmdns_seconds_since_last_sync 0\n"}},
		{"a Swarm source ages from its last successful sync", true, func(*fixture) { time.Sleep(5 * time.Millisecond) },
			[]string{"swarmdns_seconds_since_last_sync "}, []string{"swarmdns_seconds_since_last_sync 0\n"}},
		{"every label has an error count, zero when its values are good", true, nil,
			[]string{`swarmdns_registry_label_errors{label="swarmdns.scheduler"} 0`, `swarmdns_registry_label_errors{label="swarmdns.weight"} 0`}, nil},
		{"a bad label value from Swarm is counted by label", true, func(f *fixture) {
			f.store.Update(&registry.Data{Services: []registry.Service{
				{ID: "a", Name: "a", EndpointMode: registry.ModeDNSRR, Labels: map[string]string{registry.LabelScheduler: "weigthed"}},
				{ID: "b", Name: "b", EndpointMode: registry.ModeDNSRR, Labels: map[string]string{registry.LabelScheduler: "fastest", registry.LabelTTL: "soon"}},
			}})
		}, []string{`swarmdns_registry_label_errors{label="swarmdns.scheduler"} 2`, `swarmdns_registry_label_errors{label="swarmdns.ttl"} 1`,
			`swarmdns_registry_label_errors{label="swarmdns.ports"} 0`}, nil},
		{"a failed sync counts", true, func(f *fixture) { f.store.Failed(errors.New("x")) },
			[]string{"swarmdns_sync_errors_total 1"}, nil},
		{"a successful sync is timed", true, func(f *fixture) { f.store.Synced(3 * time.Millisecond) },
			[]string{"swarmdns_sync_duration_seconds_count 1", "swarmdns_sync_duration_seconds_sum 0.003"}, nil},
		{"a rebuild is a swap", true, func(f *fixture) { f.store.Rebuild() },
			[]string{"swarmdns_snapshot_swaps_total 2", "swarmdns_snapshot_build_duration_seconds_count 2"}, nil},
		{"forward metrics are absent without a forwarder", true, nil, nil, []string{"swarmdns_forward_"}},
		{"a forwarder's counters are exported", true, func(f *fixture) {
			if err := f.metrics.AddForwarder(fakeForward{7, 3, 2, 1}); err != nil {
				panic(err)
			}
		}, []string{"swarmdns_forward_cache_hits_total 7", "swarmdns_forward_cache_misses_total 3", "swarmdns_forward_upstream_errors_total 2",
			"swarmdns_forward_stale_answers_total 1"}, nil},
		{"process and Go metrics are exported", false, nil, []string{"go_goroutines ", "process_cpu_seconds_total "}, nil},
		{"build info names the version and the Go that built it", false, func(f *fixture) {
			if err := f.metrics.SetBuildInfo("1.2.3"); err != nil {
				panic(err)
			}
		}, []string{`swarmdns_build_info{goversion="` + runtime.Version() + `",revision="",version="1.2.3"} 1`}, nil},
		{"build info is absent until set", false, nil, nil, []string{"swarmdns_build_info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.synced, 0)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			body := f.scrape(t)
			for _, w := range tt.want {
				if !strings.Contains(body, "\n"+w) {
					t.Errorf("missing %q", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(body, "\n"+a) {
					t.Errorf("unexpected %q", a)
				}
			}
		})
	}
}

type fakeForward struct{ hits, misses, errs, stale uint64 }

func (f fakeForward) CacheHits() uint64      { return f.hits }
func (f fakeForward) CacheMisses() uint64    { return f.misses }
func (f fakeForward) UpstreamErrors() uint64 { return f.errs }
func (f fakeForward) StaleAnswers() uint64   { return f.stale }

func TestMetricsCountRealQueries(t *testing.T) {
	f := newFixture(t, true, 0)
	srv := startDNS(t, f)
	exchange(t, srv, "web.", dns.TypeA)
	exchange(t, srv, "nope.swarm.internal.", dns.TypeA)
	exchange(t, srv, "example.com.", dns.TypeA)
	// The observer runs after the reply is written; give it a moment.
	want := []string{
		`swarmdns_queries_total{path="zone",qtype="A",rcode="NOERROR"} 1`,
		`swarmdns_queries_total{path="zone",qtype="A",rcode="NXDOMAIN"} 1`,
		`swarmdns_queries_total{path="refused",qtype="A",rcode="REFUSED"} 1`,
		`swarmdns_query_duration_seconds_count{path="zone"} 2`,
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		body := f.scrape(t)
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w+"\n") {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("missing %s", missing)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	f := newFixture(t, false, 0)
	ev := &server.Event{Client: netip.MustParseAddrPort("10.0.0.1:5353"), Qtype: dns.TypeA, Path: server.PathZone, Size: 80, Took: 30 * time.Microsecond, Truncated: true}
	if n := testing.AllocsPerRun(1000, func() { f.metrics.Observe(ev) }); n != 0 {
		t.Errorf("Observe allocates %.1f times per call", n)
	}
}

func BenchmarkObserve(b *testing.B) {
	f := &fixture{}
	store, _ := newBenchStore()
	f.metrics = NewMetrics(store)
	ev := &server.Event{Qtype: dns.TypeA, Path: server.PathZone, Size: 80, Took: 30 * time.Microsecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f.metrics.Observe(ev)
		}
	})
}

func newBenchStore() (*registry.Store, error) {
	return registry.NewStore(registry.Config{Domain: "swarm.internal."}, quietLog())
}

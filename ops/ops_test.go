package ops

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
	"github.com/swarmdns/swarmdns/server"
)

const testRegistry = `
networks:
  - {name: appnet, id: net-app, subnets: [10.0.1.0/24]}
  - {name: backnet, id: net-back, subnets: [10.0.2.0/24]}
nodes:
  - {id: node-a, hostname: manager-1}
services:
  - name: web
    id: svc-web
    labels: {swarmdns.scheduler: weighted}
    networks: [{name: appnet, vip: 10.0.1.2}]
    tasks:
      - {id: webtask1, slot: 1, node: node-a, addresses: {appnet: [10.0.1.11]}}
      - {id: webtask2, slot: 2, node: node-a, addresses: {appnet: [10.0.1.12]}}
      - {id: webtask3, slot: 3, node: node-a, addresses: {appnet: [10.0.1.13]}}
  - name: db
    id: svc-db
    networks:
      - {name: appnet, vip: 10.0.1.3}
      - {name: backnet, vip: 10.0.2.3}
    tasks:
      - {id: dbtask1, slot: 1, node: node-a, addresses: {appnet: [10.0.1.31], backnet: [10.0.2.31]}}
`

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// fixture is a store, a DNS handler and the ops endpoints over them.
type fixture struct {
	store   *registry.Store
	handler *server.Handler
	metrics *Metrics
	ops     *Ops
}

func newFixture(t *testing.T, synced bool, staleAfter time.Duration) *fixture {
	t.Helper()
	store, err := registry.NewStore(registry.Config{Domain: "swarm.internal.", TTL: 5}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, metrics: NewMetrics(store)}
	store.Describe(registry.SourceInfo{Kind: "swarm", Stales: true})
	if synced {
		d, err := file.Parse("test.yaml", []byte(testRegistry))
		if err != nil {
			t.Fatal(err)
		}
		store.Update(d)
	}
	f.handler = server.NewHandler(server.Config{Store: store, Observer: f.metrics, Log: quietLog()})
	f.ops = New(Config{Store: store, Handler: f.handler, Metrics: f.metrics, StaleAfter: staleAfter, Log: quietLog()})
	return f
}

func (f *fixture) get(t *testing.T, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.ops.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.String()
}

func TestHealthAndReadiness(t *testing.T) {
	tests := []struct {
		name       string
		synced     bool
		staleAfter time.Duration
		prepare    func(f *fixture)
		path       string
		wantCode   int
		wantBody   string
	}{
		{"healthz is ok before any sync", false, 30 * time.Second, nil, "/healthz", 200, "ok"},
		{"readyz before the first sync says so", false, 30 * time.Second, nil, "/readyz", 503, "first sync has not finished"},
		{"readyz before the first sync gives the sync error", false, 30 * time.Second,
			func(f *fixture) { f.store.Failed(errorString("manager unreachable")) }, "/readyz", 503, "last sync error: manager unreachable"},
		{"readyz right after a sync is ready", true, 30 * time.Second, nil, "/readyz", 200, "ready"},
		{"readyz past stale-after says how old the sync is", true, time.Nanosecond,
			func(*fixture) { time.Sleep(time.Millisecond) }, "/readyz", 503, "registry is stale: last successful sync"},
		{"readyz stale gives the failing sync's error", true, time.Nanosecond,
			func(f *fixture) { f.store.Failed(errorString("connection refused")) }, "/readyz", 503, "last sync error: connection refused"},
		{"a sync without changes keeps it ready", true, 50 * time.Millisecond,
			func(f *fixture) { time.Sleep(60 * time.Millisecond); f.store.Synced(time.Millisecond) }, "/readyz", 200, "ready"},
		{"stale-after 0 never goes stale", true, 0,
			func(*fixture) { time.Sleep(time.Millisecond) }, "/readyz", 200, "ready"},
		{"SetStaleAfter applies to the next check", true, 30 * time.Second,
			func(f *fixture) { f.ops.SetStaleAfter(time.Nanosecond); time.Sleep(time.Millisecond) }, "/readyz", 503, "stale"},
		{"readyz fails naming a --network the registry does not have", true, 30 * time.Second,
			func(f *fixture) {
				cfg := f.store.Config()
				cfg.Networks = []string{"nosuchnet"}
				if err := f.store.Reconfigure(cfg); err != nil {
					panic(err)
				}
				f.store.Rebuild()
			}, "/readyz", 503, `not ready: --network "nosuchnet" names no network of the registry; it has `},
		{"a source that never goes stale stays ready past stale-after", true, time.Nanosecond,
			func(f *fixture) {
				f.store.Describe(registry.SourceInfo{Kind: "file", Origin: "test.yaml"})
				time.Sleep(time.Millisecond)
			}, "/readyz", 200, "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.synced, tt.staleAfter)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			code, body := f.get(t, tt.path)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestRegistryEndpoint(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	code, body := f.get(t, "/v1/registry")
	if code != 200 {
		t.Fatalf("GET /v1/registry = %d %s", code, body)
	}
	var got registryJSON
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	names := map[string]nameJSON{}
	for _, n := range got.Names {
		names[n.Name] = n
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"domain is the zone", got.Domain == "swarm.internal."},
		{"stats count services, running tasks and names", got.Stats.Services == 2 && got.Stats.Tasks == 4 && got.Stats.Names == len(got.Names)},
		{"services are sorted by name", len(got.Services) == 2 && got.Services[0].Name == "db" && got.Services[1].Name == "web"},
		{"a service's label scheduler is shown", got.Services[1].Scheduler == "weighted"},
		{"a service without label has the default scheduler", got.Services[0].Scheduler == "roundrobin" && got.DefaultScheduler == "roundrobin"},
		{"VIPs are keyed by network name", got.Services[0].VIPs["backnet"] == "10.0.2.3"},
		{"tasks name their service and node hostname", len(got.Tasks) == 4 && got.Tasks[0].Service == "db" && got.Tasks[0].Node == "manager-1"},
		{"task addresses are keyed by network name", len(got.Tasks[0].Addresses["backnet"]) == 1},
		{"age and last sync are reported", got.AgeSeconds >= 0 && got.LastSync != nil},
		{"tasks.web has three A records with weights and task info", hasRecords(names["tasks.web.swarm.internal."], "A", 3, "webtask")},
		{"a name on two networks has a view per network", len(names["db.swarm.internal."].Views) >= 2},
		{"reverse names are absolute", names["11.1.0.10.in-addr.arpa."].Name != ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Errorf("failed; body:\n%s", body)
			}
		})
	}
}

func hasRecords(n nameJSON, typ string, count int, info string) bool {
	for _, v := range n.Views {
		for _, s := range v.Sets {
			if s.Type != typ || len(s.Records) != count {
				continue
			}
			for _, r := range s.Records {
				if r.Weight == 0 || !strings.HasPrefix(r.Info, info) || !strings.HasPrefix(r.Data, "10.0.1.") {
					return false
				}
			}
			return true
		}
	}
	return false
}

func TestRegistryEndpointBeforeSync(t *testing.T) {
	f := newFixture(t, false, 30*time.Second)
	if code, body := f.get(t, "/v1/registry"); code != 503 || !strings.Contains(body, "first sync") {
		t.Errorf("GET /v1/registry before sync = %d %s, want 503", code, body)
	}
}

func TestResolveEndpoint(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		wantCode  int
		wantRcode string
		wantData  []string // answer data, in order; nil: not checked
		wantError string
	}{
		{"A of a vip service is its VIP", "name=web&type=A", 200, "NOERROR", []string{"10.0.1.2"}, ""},
		{"type defaults to A", "name=web", 200, "NOERROR", []string{"10.0.1.2"}, ""},
		{"type is case-insensitive", "name=web&type=a", 200, "NOERROR", []string{"10.0.1.2"}, ""},
		{"tasks prefix returns every running task", "name=tasks.web.swarm.internal&type=A", 200, "NOERROR", nil, ""},
		{"client on backnet gets the backnet VIP", "name=db&type=A&client=10.0.2.50", 200, "NOERROR", []string{"10.0.2.3"}, ""},
		{"client with a port is accepted", "name=db&type=A&client=10.0.2.50:5353", 200, "NOERROR", []string{"10.0.2.3"}, ""},
		{"unknown name in the zone is NXDOMAIN", "name=nope.swarm.internal", 200, "NXDOMAIN", []string{}, ""},
		{"name outside the zone is REFUSED, never forwarded", "name=example.com", 200, "REFUSED", []string{}, ""},
		{"PTR of a task IP names the task", "name=11.1.0.10.in-addr.arpa&type=PTR", 200, "NOERROR", nil, ""},
		{"numeric type is accepted", "name=web&type=TYPE1", 200, "NOERROR", []string{"10.0.1.2"}, ""},
		{"missing name is a bad request", "type=A", 400, "", nil, "name is required"},
		{"unknown type is a bad request", "name=web&type=BOGUS", 400, "", nil, "not a DNS record type"},
		{"bad client is a bad request", "name=web&client=nothere", 400, "", nil, "not an IP address"},
		{"bad name is a bad request", "name=" + strings.Repeat("a", 70), 400, "", nil, "not a domain name"},
	}
	f := newFixture(t, true, 30*time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.get(t, "/v1/resolve?"+tt.query)
			if code != tt.wantCode {
				t.Fatalf("code = %d, want %d; body %s", code, tt.wantCode, body)
			}
			if tt.wantError != "" {
				if !strings.Contains(body, tt.wantError) {
					t.Errorf("body %s does not contain %q", body, tt.wantError)
				}
				return
			}
			var got resolveJSON
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Rcode != tt.wantRcode {
				t.Errorf("rcode = %s, want %s", got.Rcode, tt.wantRcode)
			}
			if tt.wantData != nil {
				var data []string
				for _, rr := range got.Answer {
					data = append(data, rr.Data)
				}
				if strings.Join(data, ",") != strings.Join(tt.wantData, ",") {
					t.Errorf("answer = %v, want %v", data, tt.wantData)
				}
			} else if len(got.Answer) == 0 {
				t.Errorf("no answer: %s", body)
			}
		})
	}
}

func TestResolveDoesNotRotate(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	order := func() string {
		_, body := f.get(t, "/v1/resolve?name=tasks.web&type=A")
		var got resolveJSON
		json.Unmarshal([]byte(body), &got)
		var data []string
		for _, rr := range got.Answer {
			data = append(data, rr.Data)
		}
		return strings.Join(data, ",")
	}
	first := order()
	for range 5 {
		if got := order(); got != first {
			t.Fatalf("order changed between calls: %s then %s", first, got)
		}
	}
	// A real query takes the position /v1/resolve showed; the next call
	// shows the following one.
	srv := startDNS(t, f)
	exchange(t, srv, "tasks.web.", dns.TypeA)
	if got := order(); got == first {
		t.Errorf("order %s did not move after a real query", got)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	if code, _ := f.get(t, "/v1/nothing"); code != 404 {
		t.Errorf("code = %d, want 404", code)
	}
}

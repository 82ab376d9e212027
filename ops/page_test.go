package ops

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/server"
)

func getJSONInto(t *testing.T, f *fixture, target string, v any) int {
	t.Helper()
	code, body := f.get(t, target)
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", target, err, body)
	}
	return code
}

func TestThePageIsServedWithAStrictContentSecurityPolicy(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	for _, tc := range []struct{ path, ctype, has string }{
		{"/", "text/html", `<script src="/ui/app.js" defer>`},
		{"/ui/app.js", "text/javascript", "/v1/status"},
		{"/ui/app.css", "text/css", "--registry"},
		{"/ui/icon.svg", "image/svg+xml", "<svg"},
	} {
		rec := httptest.NewRecorder()
		f.ops.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(rec.Body.String(), tc.has) {
			t.Errorf("GET %s = %d %s, want 200 %s containing %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.ctype, tc.has)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != pageCSP {
			t.Errorf("GET %s: Content-Security-Policy %q, want %q", tc.path, got, pageCSP)
		}
	}
}

func TestThePageLoadsNothingFromElsewhere(t *testing.T) {
	err := fs.WalkDir(webFiles, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFiles.ReadFile(path)
		if err != nil {
			return err
		}
		// The SVG namespace is a name, not a fetch.
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "<style", " style=", "onclick=", "innerHTML", "eval("} {
			if strings.Contains(text, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStatusSaysWhetherTheAnswersAreCurrent(t *testing.T) {
	tests := []struct {
		name       string
		synced     bool
		prepare    func(f *fixture)
		wantState  string
		wantReason string
	}{
		{"a fresh sync is current", true, nil, "current", ""},
		{"before the first sync there is no data", false, nil, "no data", "first sync has not finished"},
		{"a failed sync after data is stale with the error", true,
			func(f *fixture) { f.store.Failed(errors.New("parse registry.yaml: line 3: bad indent")) }, "stale", "the last sync failed; answers come from the snapshot of"},
		{"a sync older than stale-after is stale", true,
			func(f *fixture) { f.ops.SetStaleAfter(time.Nanosecond); time.Sleep(time.Millisecond) }, "stale", "registry is stale"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.synced, 30*time.Second)
			if tc.prepare != nil {
				tc.prepare(f)
			}
			var got statusJSON
			if code := getJSONInto(t, f, "/v1/status", &got); code != 200 {
				t.Fatalf("GET /v1/status = %d", code)
			}
			if got.State != tc.wantState || !strings.Contains(got.Reason, tc.wantReason) || (tc.wantReason == "") != (got.Reason == "") {
				t.Fatalf("state %q reason %q, want %q with %q", got.State, got.Reason, tc.wantState, tc.wantReason)
			}
			if got.Source.Kind != "swarm" || !got.Source.Stales {
				t.Fatalf("source %+v, want the swarm source that goes stale", got.Source)
			}
			if tc.synced && (got.Serial == 0 || got.Stats.Services != 2 || len(got.Networks) != 2 || got.Networks[0].Client != "10.0.1.1") {
				t.Fatalf("status %+v, want the serial, 2 services and a client address per network", got)
			}
		})
	}
}

func TestServicesArePagedAndFiltered(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	tests := []struct {
		name      string
		query     string
		wantTotal int
		wantNames []string
	}{
		{"every service by name", "", 2, []string{"db", "web"}},
		{"a page of one from the second", "?offset=1&limit=1", 2, []string{"web"}},
		{"the filter matches part of a name, any case", "?q=WE", 1, []string{"web"}},
		{"a filter that matches nothing", "?q=nosuch", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got servicesJSON
			if code := getJSONInto(t, f, "/v1/services"+tc.query, &got); code != 200 {
				t.Fatalf("code %d", code)
			}
			var names []string
			for _, s := range got.Services {
				names = append(names, s.Name)
			}
			if got.Total != tc.wantTotal || strings.Join(names, ",") != strings.Join(tc.wantNames, ",") {
				t.Fatalf("total %d services %v, want %d %v", got.Total, names, tc.wantTotal, tc.wantNames)
			}
		})
	}
	var web servicesJSON
	getJSONInto(t, f, "/v1/services?q=web", &web)
	if s := web.Services[0]; s.TTL != 5 || s.Tasks != 3 || s.Scheduler != "weighted" || s.VIPs["appnet"] != "10.0.1.2" {
		t.Fatalf("web %+v, want TTL 5, 3 tasks, weighted, VIP 10.0.1.2 on appnet", s)
	}
	if code, body := f.get(t, "/v1/services?offset=-1"); code != 400 || !strings.Contains(body, "offset") {
		t.Fatalf("bad offset: %d %s", code, body)
	}
}

func TestAServiceShowsItsTasksAndTheNamesThatAnswerIt(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	var got serviceDetailJSON
	if code := getJSONInto(t, f, "/v1/services/svc-web", &got); code != 200 {
		t.Fatalf("code %d", code)
	}
	if len(got.TaskList) != 3 || got.TaskList[0].Slot != 1 || got.TaskList[0].Node != "manager-1" || got.TaskList[0].Weight != 1 ||
		got.TaskList[0].Addresses["appnet"][0] != "10.0.1.11" {
		t.Fatalf("tasks %+v, want three, slot 1 first on manager-1 at 10.0.1.11 with weight 1", got.TaskList)
	}
	names := strings.Join(got.Names, " ")
	for _, want := range []string{"web.swarm.internal.", "tasks.web.swarm.internal.", "web.appnet.swarm.internal.", "1.web.swarm.internal.", "web.1.webtask1.swarm.internal.", "web.1.webtask1.appnet.swarm.internal."} {
		if !strings.Contains(" "+names+" ", " "+want+" ") {
			t.Errorf("names %v lack %s", got.Names, want)
		}
	}
	if code, body := f.get(t, "/v1/services/nosuch"); code != 404 || !strings.Contains(body, "nosuch") {
		t.Fatalf("unknown service: %d %s", code, body)
	}
}

// answerTasksWeb answers tasks.web n times as the query path does.
func answerTasksWeb(t *testing.T, f *fixture, n int) {
	t.Helper()
	name, ok := f.store.Snapshot().Lookup([]byte("tasks.web"))
	if !ok {
		t.Fatal("no tasks.web")
	}
	set := name.View(nil).A
	order := make([]int, 0, 8)
	for range n {
		order = set.Order(order[:0])
	}
}

// spreadStep answers tasks.web, after a rebuild if asked, then samples
// at a time after the test's start.
type spreadStep struct {
	answers int
	rebuild bool
	at      time.Duration
}

func TestSpreadShowsWhatAnswersPutFirstBesideThePromise(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name        string
		steps       []spreadStep
		wantAnswers uint64
	}{
		{"answers in the last minute count", []spreadStep{{300, false, 0}}, 300},
		{"a new snapshot with the same set goes on counting", []spreadStep{{300, false, 0}, {0, true, time.Second}, {300, false, 2 * time.Second}}, 600},
		{"answers older than a minute are gone", []spreadStep{{300, false, 0}, {0, false, 61 * time.Second}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, true, 30*time.Second)
			var last time.Time
			for _, s := range tc.steps {
				if s.rebuild {
					f.store.Rebuild()
				}
				answerTasksWeb(t, f, s.answers)
				last = now.Add(s.at)
				f.ops.sample(last)
			}
			got := f.ops.spreads.view(f.store.Snapshot(), f.ops.catalogs.get(f.store.Snapshot()), "", 50, last)
			if tc.wantAnswers == 0 {
				if len(got.Services) != 0 {
					t.Fatalf("spread %+v, want nothing", got)
				}
				return
			}
			if len(got.Services) != 1 || got.Services[0].Service != "web" || len(got.Services[0].Sets) != 1 {
				t.Fatalf("spread %+v, want web's one set", got)
			}
			set := got.Services[0].Sets[0]
			if set.Name != "tasks.web.swarm.internal." || set.Type != "A" || set.Scheduler != "weighted" || set.Answers != tc.wantAnswers {
				t.Fatalf("set %+v, want tasks.web A, weighted, %d answers", set, tc.wantAnswers)
			}
			for _, r := range set.Records {
				if r.First != tc.wantAnswers/3 || r.Promised == nil || *r.Promised < 0.333 || *r.Promised > 0.334 || !strings.HasPrefix(r.Info, "webtask") {
					t.Fatalf("record %+v, want a third of the answers, a third promised", r)
				}
			}
		})
	}
}

func TestSpreadEndpointFiltersByService(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	answerTasksWeb(t, f, 30)
	f.ops.sample(time.Now())
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 1}, {"?service=we", 1}, {"?service=db", 0}} {
		var got spreadJSON
		if code := getJSONInto(t, f, "/v1/spread"+tc.query, &got); code != 200 || len(got.Services) != tc.want || got.WindowSeconds != 60 {
			t.Errorf("GET /v1/spread%s = %d %+v, want %d services over 60 s", tc.query, code, got, tc.want)
		}
	}
}

type fakeForwarder struct{ hits uint64 }

func (f *fakeForwarder) CacheHits() uint64      { return f.hits }
func (f *fakeForwarder) CacheMisses() uint64    { return 0 }
func (f *fakeForwarder) UpstreamErrors() uint64 { return 0 }
func (f *fakeForwarder) StaleAnswers() uint64   { return 0 }
func (f *fakeForwarder) Upstreams() []UpstreamStatus {
	return []UpstreamStatus{{Addr: "127.0.0.1:53"}, {Addr: "127.0.0.2:53", Down: true, DownFor: 4 * time.Second, Failures: 3}}
}

func TestTrafficCountsEachSecondByOutcome(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	fwd := &fakeForwarder{}
	f.ops = New(Config{Store: f.store, Handler: f.handler, Metrics: f.metrics, Forwarder: fwd, Log: quietLog()})
	now := time.Unix(1_800_000_000, 0)
	f.ops.sample(now)
	events := []struct {
		path  server.Path
		rcode int
		n     int
	}{
		{server.PathZone, 0, 5}, {server.PathZone, 3, 2}, {server.PathForwarded, 0, 4}, {server.PathForwarded, 3, 1},
		{server.PathRefused, 5, 1}, {server.PathError, 2, 2}, {server.PathError, 1, 1},
	}
	for _, e := range events {
		for range e.n {
			f.metrics.Observe(&server.Event{Path: e.path, Rcode: e.rcode})
		}
	}
	fwd.hits = 3
	f.ops.sample(now.Add(time.Second))
	var got trafficJSON
	getJSONInto(t, f, "/v1/traffic", &got)
	want := map[string]uint32{"registry": 5, "nxdomain": 3, "forwarded": 1, "cached": 3, "refused": 1, "servfail": 2, "error": 1}
	for o, n := range want {
		if s := got.Series[o]; len(s) != 1 || s[0] != n {
			t.Errorf("%s: %v, want [%d]", o, s, n)
		}
	}
	if !got.Forwards || len(got.Upstreams) != 2 || !got.Upstreams[0].Up || got.Upstreams[1].Up || got.Upstreams[1].DownFor != 4 || got.Upstreams[1].Failures != 3 {
		t.Fatalf("upstreams %+v, want one up, one down for 4 s after 3 failures", got.Upstreams)
	}
}

func TestResolveSaysThePathTheAnswerTook(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	tests := []struct {
		name  string
		query string
		want  pathJSON
	}{
		{"a host client gets the default view", "name=tasks.web", pathJSON{Source: "registry", Owner: "tasks.web.swarm.internal.", Scheduler: "weighted"}},
		{"a client on backnet gets backnet's view", "name=db&client=10.0.2.9", pathJSON{Source: "registry", Owner: "db.swarm.internal.", ClientNetworks: []string{"backnet"}, View: "backnet", Scheduler: "roundrobin"}},
		{"an unknown name under the domain", "name=nosuch.swarm.internal", pathJSON{Source: "registry (NXDOMAIN)"}},
		{"a name outside the registry", "name=example.org", pathJSON{Source: "outside the registry"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got resolveJSON
			if code := getJSONInto(t, f, "/v1/resolve?"+tc.query, &got); code != 200 || got.Path == nil {
				t.Fatalf("code %d, %+v", code, got)
			}
			p := *got.Path
			if p.Source != tc.want.Source || p.Owner != tc.want.Owner || p.View != tc.want.View || p.Scheduler != tc.want.Scheduler ||
				strings.Join(p.ClientNetworks, ",") != strings.Join(tc.want.ClientNetworks, ",") {
				t.Fatalf("path %+v, want %+v", p, tc.want)
			}
		})
	}
}

package ops_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/internal/browsertest"
	"github.com/swarmdns/swarmdns/ops"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
	"github.com/swarmdns/swarmdns/server"
	"github.com/swarmdns/swarmdns/server/forward"
)

// These tests drive Debian's chromium, headless, against a real swarmdns
// on loopback: the file source on a copy of examples/registry.yaml, the
// DNS server, a forwarder to a local upstream and the operations
// listener. Set SWARMDNS_SCREENSHOT to a path to keep the screenshots
// (docs/ops-page.png and docs/ops-page-narrow.png are made so).

// chromium returns the browser's path; without one the tests skip, except
// in CI, where they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: CI must install Debian's chromium package for the page's browser tests")
	}
	t.Skip("chromium is not installed (Debian package chromium); the page's browser tests need it")
	return ""
}

func quiet() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(logrus.ErrorLevel)
	return logrus.NewEntry(l)
}

// repoFile finds path from the module root, wherever this package lives.
func repoFile(t *testing.T, path string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, path)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// swarmdns is one running swarmdns, in process.
type swarmdns struct {
	store    *registry.Store
	dns      string // the DNS listener, host:port
	page     string // http://host:port/
	registry string // the registry file, for a file source
}

type forwardInfo struct{ f *forward.Forwarder }

func (s forwardInfo) CacheHits() uint64      { return s.f.Stats().CacheHits }
func (s forwardInfo) CacheMisses() uint64    { return s.f.Stats().CacheMisses }
func (s forwardInfo) UpstreamErrors() uint64 { return s.f.Stats().Failures }
func (s forwardInfo) StaleAnswers() uint64   { return s.f.Stats().Stale }
func (s forwardInfo) Upstreams() []ops.UpstreamStatus {
	var out []ops.UpstreamStatus
	for _, h := range s.f.Health() {
		out = append(out, ops.UpstreamStatus{Addr: h.Addr.String(), Down: h.Down, DownFor: h.DownFor, Failures: h.Failures})
	}
	return out
}

// startUpstream serves one A record for every name on 127.0.0.1.
func startUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg).SetReply(q)
		if q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.10")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// start runs swarmdns on the file at path (copied), or on d when d is
// not nil.
func start(t *testing.T, path string, d *registry.Data) *swarmdns {
	t.Helper()
	store, err := registry.NewStore(registry.Config{Domain: "swarm.internal.", TTL: 5}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	metrics := ops.NewMetrics(store)
	s := &swarmdns{store: store}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if d != nil {
		store.Describe(registry.SourceInfo{Kind: "file", Origin: "generated: 10,000 services"})
		store.Update(d)
	} else {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s.registry = filepath.Join(t.TempDir(), "registry.yaml")
		if err := os.WriteFile(s.registry, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		src := file.NewSource(s.registry, quiet())
		go src.Run(ctx, store)
		for deadline := time.Now().Add(10 * time.Second); store.Snapshot() == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the file source published nothing in 10 s")
			}
		}
	}
	fwd, err := forward.New(forward.Config{Upstreams: []string{startUpstream(t)}, CacheSize: 100, Timeout: time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h := server.NewHandler(server.Config{Store: store, Forwarder: fwd, Observer: metrics, Log: quiet()})
	srv := &server.Server{Handler: h, Addr: "127.0.0.1:0", Log: quiet()}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	s.dns = srv.UDPAddr().String()
	o := ops.New(ops.Config{Store: store, Handler: h, Metrics: metrics, Forwarder: forwardInfo{fwd}, Log: quiet()})
	if err := o.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Shutdown(context.Background()) })
	s.page = "http://" + o.Addr().String() + "/"
	return s
}

// query asks swarmdns n times over UDP.
func (s *swarmdns) query(t *testing.T, name string, qtype uint16, n int) {
	t.Helper()
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	conn, err := c.Dial(s.dns)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	for range n {
		if _, _, err := c.ExchangeWithConn(m, conn); err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
	}
}

// newBrowser opens a headless chromium tab of width by height that
// records every console error and warning, uncaught exception and failed
// request.
func newBrowser(t *testing.T, width, height int) *browsertest.Tab {
	t.Helper()
	return browsertest.Start(t, chromium(t), width, height, pageFault)
}

// pageFault names the fault ev is, or "" for none.
func pageFault(ev any) string {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			return fmt.Sprintf("console %s: %s", ev.Type, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		return fmt.Sprintf("exception: %s %s", ev.ExceptionDetails.Text, ev.ExceptionDetails.URL)
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
			return fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
		}
	case *network.EventLoadingFailed:
		return fmt.Sprintf("request failed: %s %s", ev.ErrorText, ev.BlockedReason)
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 {
			return fmt.Sprintf("HTTP %d for %s", ev.Response.Status, ev.Response.URL)
		}
	}
	return ""
}

// screenshot writes a PNG of the page named name to the test's temporary
// directory, or beside SWARMDNS_SCREENSHOT when that is set.
func screenshot(t *testing.T, b *browsertest.Tab, name string) {
	t.Helper()
	png := b.Screenshot(t)
	path := filepath.Join(t.TempDir(), name)
	if p := os.Getenv("SWARMDNS_SCREENSHOT"); p != "" {
		// The wide one there, the others beside it: ops-page-narrow.png.
		path = strings.TrimSuffix(p, ".png") + strings.TrimPrefix(strings.TrimSuffix(name, ".png"), "ops-page") + ".png"
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

type spreadRec struct {
	Data     string  `json:"data"`
	Share    float64 `json:"share"`
	Promised float64 `json:"promised"`
}

// The spread test's tolerance: a share shown within 2 percentage points
// of the promise. Round robin and smooth weighted are exact over whole
// cycles and the bursts are whole cycles, so only a policy that strays
// fails it, not chance.
const spreadTolerance = 0.02

func TestPageInChromiumOnTheExampleRegistry(t *testing.T) {
	chromium(t)
	s := start(t, repoFile(t, "examples/registry.yaml"), nil)
	b := newBrowser(t, 1280, 900)
	b.Run(t, "open the page", chromedp.Navigate(s.page))

	// Now, and the services.
	b.WaitFor(t, "the status is current", `document.getElementById('status-badge').textContent === 'current'`, 10*time.Second)
	b.WaitFor(t, "the four services are listed", `document.querySelectorAll('#svc-table tr.svc').length === 4`, 10*time.Second)
	names := browsertest.Eval[[]string](t, b, `[...document.querySelectorAll('#svc-table tr.svc')].map(r => r.dataset.name)`)
	if strings.Join(names, ",") != "agent,api,db,web" {
		t.Fatalf("services %v, want agent, api, db, web", names)
	}
	source := browsertest.Eval[string](t, b, `document.querySelector('[data-fact="Source"]').textContent`)
	if !strings.HasPrefix(source, "file · ") || !strings.HasSuffix(source, "registry.yaml") {
		t.Fatalf("source %q, want the file source and its path", source)
	}

	// A service expands to its tasks and names.
	b.Run(t, "expand web", chromedp.Click(chromedp.CSS(`tr.svc[data-id="svc-web"] button.toggle`)))
	b.WaitFor(t, "web's tasks are shown", `document.querySelectorAll('tr.detail[data-for="svc-web"] tr.task').length === 4`, 10*time.Second)
	detail := browsertest.Eval[string](t, b, `document.querySelector('tr.detail[data-for="svc-web"]').innerText`)
	for _, want := range []string{"webtask1", "worker-1", "10.0.1.12", "fd00:1::11", "starting", "tasks.web.swarm.internal.", "_http._tcp.web.swarm.internal.", "2.web.swarm.internal."} {
		if !strings.Contains(detail, want) {
			t.Errorf("web's details lack %q:\n%s", want, detail)
		}
	}

	// A burst of queries: whole cycles of round robin (3 tasks) and of
	// smooth weighted (weights 2 and 6), and some traffic of every kind.
	// Spread over a few seconds, so that the chart has a shape.
	for round := range 4 {
		if round > 0 {
			time.Sleep(700 * time.Millisecond)
		}
		s.query(t, "tasks.web", dns.TypeA, 225)
		s.query(t, "api", dns.TypeA, 200)
		s.query(t, "example.org", dns.TypeA, 10)
		s.query(t, "nosuch.swarm.internal", dns.TypeA, 15)
	}
	b.WaitFor(t, "the spread counts every answer of the burst", `(() => {
		const what = (name) => (document.querySelector('.spread-set[data-type="A"][data-name="' + name + '"] .what') || {}).textContent || '';
		return what('tasks.web.swarm.internal.').endsWith(' 900 answers') && what('api.swarm.internal.').endsWith(' 800 answers');
	})()`, 15*time.Second)
	for _, tc := range []struct {
		name  string
		set   string
		share map[string]float64
	}{
		{"round robin shares equally", "tasks.web.swarm.internal.", map[string]float64{"10.0.1.11": 1. / 3, "10.0.1.12": 1. / 3, "10.0.1.13": 1. / 3}},
		{"weighted shares by weight (2 on manager-1, 6 on worker-1)", "api.swarm.internal.", map[string]float64{"10.0.1.21": .25, "10.0.1.22": .75}},
	} {
		recs := browsertest.Eval[[]spreadRec](t, b, `[...document.querySelectorAll('.spread-set[data-type="A"][data-name="`+tc.set+`"] .rec')].map(r => ({data: r.dataset.data, share: +r.dataset.share, promised: +r.dataset.promised}))`)
		if len(recs) != len(tc.share) {
			t.Fatalf("%s: records %+v, want %d", tc.name, recs, len(tc.share))
		}
		for _, r := range recs {
			want := tc.share[r.Data]
			if d := r.Share - want; d > spreadTolerance || d < -spreadTolerance {
				t.Errorf("%s: %s came first in %.3f of answers, want %.3f ± %.2f", tc.name, r.Data, r.Share, want, spreadTolerance)
			}
			if d := r.Promised - want; d > 1e-6 || d < -1e-6 {
				t.Errorf("%s: %s promised %.3f, want %.3f", tc.name, r.Data, r.Promised, want)
			}
		}
	}
	b.WaitFor(t, "the traffic chart draws the burst", `document.querySelectorAll('#traffic-chart polygon').length === 7`, 10*time.Second)
	b.WaitFor(t, "the upstream is up", `document.querySelector('#upstreams .up') !== null`, 5*time.Second)

	// Ask resolves tasks.web as a client on appnet would, without moving
	// the rotation.
	b.Run(t, "ask for tasks.web on appnet",
		chromedp.SetValue(chromedp.ID("ask-name"), "tasks.web"),
		chromedp.SetValue(chromedp.ID("ask-network"), "10.0.1.1"),
		chromedp.Click(chromedp.CSS(`#ask-form button[type=submit]`)))
	b.WaitFor(t, "the answer is shown", `document.querySelectorAll('#ask-result table.answer tbody tr').length === 3`, 5*time.Second)
	answer := browsertest.Eval[string](t, b, `document.querySelector('#ask-result table.answer').innerText`)
	path := browsertest.Eval[string](t, b, `document.querySelector('#ask-result .path').innerText`)
	for _, want := range []string{"10.0.1.11", "10.0.1.12", "10.0.1.13"} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer lacks %s:\n%s", want, answer)
		}
	}
	if !strings.Contains(path, "registry") || !strings.Contains(path, "tasks.web.swarm.internal.") || !strings.Contains(path, "appnet") {
		t.Errorf("path %q, want the registry, tasks.web and appnet", path)
	}
	screenshot(t, b, "ops-page.png")

	// On a narrow screen nothing sticks out sideways: wide tables scroll
	// in their own box.
	b.Run(t, "narrow the window", chromedp.EmulateViewport(390, 800))
	overflow := browsertest.Eval[int](t, b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
	if overflow > 0 {
		t.Errorf("the page is %d px wider than a 390 px screen", overflow)
	}
	screenshot(t, b, "ops-page-narrow.png")
	b.Run(t, "back to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.Run(t, "widen the window", chromedp.EmulateViewport(1280, 900))

	// A broken registry file turns the status stale, with the reason.
	if err := os.WriteFile(s.registry, []byte("services: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.WaitFor(t, "the status turns stale", `document.getElementById('status-badge').textContent === 'stale'`, 15*time.Second)
	reason := browsertest.Eval[string](t, b, `document.getElementById('now-reason').textContent`)
	if !strings.Contains(reason, "the last sync failed") || !strings.Contains(reason, "registry.yaml") {
		t.Errorf("reason %q, want the failed sync and the file", reason)
	}
	b.CheckClean(t)
}

func TestPageInChromiumWithTenThousandServices(t *testing.T) {
	chromium(t)
	d := benchdata.Data(benchdata.Large)
	s := start(t, "", d)
	b := newBrowser(t, 1280, 900)
	b.Run(t, "open the page", chromedp.Navigate(s.page))
	b.WaitFor(t, "the first page of services is rendered", `document.body.dataset.rendered`, 20*time.Second)
	firstRender := browsertest.Eval[float64](t, b, `+document.body.dataset.rendered`)
	// Generous: the first render is one page of 50 rows, whatever the size.
	if firstRender > 5000 {
		t.Errorf("first render after %.0f ms, want under 5 s", firstRender)
	}
	rows := browsertest.Eval[int](t, b, `document.querySelectorAll('tr').length`)
	if rows > 120 {
		t.Errorf("%d table rows in the page, want a bounded page of them", rows)
	}
	count := browsertest.Eval[string](t, b, `document.getElementById('svc-count').textContent`)
	if count != fmt.Sprintf("1–50 of %d", len(d.Services)) {
		t.Errorf("count %q, want the first 50 of %d", count, len(d.Services))
	}
	// The filter answers at once, and the page stays responsive.
	b.Run(t, "filter", chromedp.SendKeys(chromedp.ID("svc-filter"), "svc999"))
	b.WaitFor(t, "the filter applies", `document.getElementById('svc-count').textContent === '1–11 of 11'`, 10*time.Second)
	start := time.Now()
	n := browsertest.Eval[int](t, b, `document.querySelectorAll('#svc-table tr.svc').length`)
	if took := time.Since(start); n != 11 || took > 2*time.Second {
		t.Errorf("%d rows after filtering, in %s; want 11 at once", n, took)
	}
	s.query(t, "tasks.svc3", dns.TypeA, 30)
	b.WaitFor(t, "the spread shows tasks.svc3", `document.querySelector('.spread-set[data-name="tasks.svc3.swarm.internal."]')`, 15*time.Second)
	b.CheckClean(t)
}

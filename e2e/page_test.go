//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/swarmdns/swarmdns/internal/browsertest"
)

// pageMargin is what the page may take beyond its refresh interval to
// show a task swarmdns knows: one request for the page of services and
// one for the open service, on loopback.
const pageMargin = 2 * time.Second

// TestThePageShowsAScaleUpWithoutAReload drives Debian's chromium,
// headless, on the operator page of a real `swarmdns serve` on the real
// Swarm: it opens the page, filters to a service, expands it to its one
// task, then scales the service up with `docker service scale` and
// asserts that the new task appears on the page, running, within the
// page's refresh interval (read from ops/web/app.js) plus pageMargin of
// swarmdns's /v1/services/{id} listing it running, in the same page: a
// mark set in the page before the change is still there.
func TestThePageShowsAScaleUpWithoutAReload(t *testing.T) {
	ctx := context.Background()
	refresh := pageRefreshInterval(t)
	svc := fx.prefix + "page"
	t.Cleanup(func() { docker("service", "rm", svc) })
	if err := createService(svc, "--replicas", "1", "--network", fx.netA); err != nil {
		t.Fatal(err)
	}
	if err := fx.waitRunning(svc, 1, changeTimeout); err != nil {
		t.Fatal(err)
	}
	in := startInstance(t, "127.0.0.1:0", true)
	base := "http://" + in.ops
	var id string
	if err := waitFor(30*time.Second, func() bool {
		var page struct {
			Services []struct {
				ID    string `json:"id"`
				Name  string `json:"name"`
				Tasks int    `json:"tasks"`
			} `json:"services"`
		}
		if getJSON(base+"/v1/services?q="+url.QueryEscape(svc), &page) != nil {
			return false
		}
		for _, s := range page.Services {
			if s.Name == svc && s.Tasks == 1 {
				id = s.ID
			}
		}
		return id != ""
	}); err != nil {
		t.Fatalf("swarmdns does not list %s with its task: %v", svc, err)
	}

	b := newPageBrowser(t)
	b.Run(t, "open the page", chromedp.Navigate(base+"/"))
	b.WaitFor(t, "the status is current", `document.getElementById('status-badge').textContent === 'current'`, 15*time.Second)
	b.Run(t, "filter to the service", chromedp.SendKeys(chromedp.ID("svc-filter"), svc))
	row := fmt.Sprintf(`tr.svc[data-id=%q]`, id)
	tasks := fmt.Sprintf(`tr.detail[data-for=%q] tr.task`, id)
	b.WaitFor(t, "the service is listed alone", `document.querySelectorAll('#svc-table tr.svc').length === 1 && document.querySelector('`+row+`')`, 10*time.Second)
	b.Run(t, "expand the service", chromedp.Click(chromedp.CSS(row+` button.toggle`)))
	b.WaitFor(t, "its one task is shown", `document.querySelectorAll('`+tasks+`').length === 1`, 10*time.Second)
	// A reload or a navigation starts a new document, without this mark.
	b.Run(t, "mark the document", chromedp.Evaluate[chromedp.Void](`window.swarmdnsE2EMark = 'same document'`))

	old, err := fx.running(ctx, svc)
	if err != nil || len(old) != 1 {
		t.Fatalf("want one running task of %s, have %d (%v)", svc, len(old), err)
	}
	start := time.Now()
	mustDocker(t, "service", "scale", "-d", svc+"=2")
	var newTask string
	var serverAt, pageAt time.Duration
	for deadline := start.Add(changeTimeout); serverAt == 0 || pageAt == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: new task %q, swarmdns lists it running at %s, the page at %s; the page shows:\n%s", changeTimeout,
				newTask, serverAt, pageAt, browsertest.Eval[string](t, b, `document.getElementById('svc-table').innerText`))
		}
		if newTask == "" {
			ts, err := fx.running(ctx, svc)
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range ts {
				if tk.ID != old[0].ID {
					newTask = tk.ID
				}
			}
			continue
		}
		if serverAt == 0 && listsRunning(base, id, newTask) {
			serverAt = time.Since(start)
		}
		if pageAt == 0 && browsertest.Eval[bool](t, b, fmt.Sprintf(`[...document.querySelectorAll('%s')].some(r => r.dataset.task === %q && r.cells[3].textContent === 'running')`, tasks, newTask)) {
			pageAt = time.Since(start)
		}
	}
	t.Logf("scale up 1→2: swarmdns lists the new task running %d ms after the docker command, the page shows it %d ms after (refresh every %s)",
		serverAt.Milliseconds(), pageAt.Milliseconds(), refresh)
	if late := pageAt - serverAt; late > refresh+pageMargin {
		t.Errorf("the page showed the new task %s after swarmdns listed it, want within %s + %s", late, refresh, pageMargin)
	}
	if n := browsertest.Eval[int](t, b, `document.querySelectorAll('`+tasks+`').length`); n != 2 {
		t.Errorf("the page shows %d tasks of %s, want 2", n, svc)
	}
	if mark := browsertest.Eval[string](t, b, `window.swarmdnsE2EMark || 'a new document'`); mark != "same document" {
		t.Errorf("the page was reloaded: %s", mark)
	}
	b.CheckClean(t)
}

// pageRefreshInterval reads how often the page refreshes its services
// from the page's own script.
func pageRefreshInterval(t *testing.T) time.Duration {
	t.Helper()
	js, err := os.ReadFile("../ops/web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`every\((\d+), refreshServices\)`).FindSubmatch(js)
	if m == nil {
		t.Fatal("ops/web/app.js: no every(ms, refreshServices): how often does the page refresh its services?")
	}
	ms, _ := strconv.Atoi(string(m[1]))
	return time.Duration(ms) * time.Millisecond
}

// listsRunning reports whether swarmdns's /v1/services/{id} lists task
// as running.
func listsRunning(base, id, task string) bool {
	type taskState struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	var d struct {
		TaskList []taskState `json:"task_list"`
	}
	if getJSON(base+"/v1/services/"+url.PathEscape(id), &d) != nil {
		return false
	}
	return slices.Contains(d.TaskList, taskState{ID: task, State: "running"})
}

func getJSON(u string, v any) error {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// newPageBrowser opens a headless chromium tab that records uncaught
// exceptions, console errors and failed requests.
func newPageBrowser(t *testing.T) *browsertest.Tab {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: the page's e2e test needs Debian's chromium (scripts/browser-deps.sh)")
	}
	return browsertest.Start(t, path, 1280, 900, pageFault)
}

// pageFault names the fault ev is, or "" for none.
func pageFault(ev any) string {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		return "exception: " + ev.ExceptionDetails.Text
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			fault := "console error"
			for _, a := range ev.Args {
				fault += " " + string(a.Value) + a.Description
			}
			return fault
		}
	case *network.EventLoadingFailed:
		return "request failed: " + ev.ErrorText
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 {
			return fmt.Sprintf("HTTP %d for %s", ev.Response.Status, ev.Response.URL)
		}
	}
	return ""
}

// Package browsertest drives a headless chromium tab for tests of a web
// page: it starts the browser, records the faults the page shows (which
// events are faults is the caller's to say), and runs actions,
// expressions and waits in the tab, each failing the test after 30 s.
package browsertest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// stepTimeout bounds each action, expression or screenshot in the tab.
const stepTimeout = 30 * time.Second

// Tab is a headless chromium tab that records faults.
type Tab struct {
	ctx     context.Context
	faultOf func(ev any) string
	mu      sync.Mutex
	faults  []string
}

// Start runs chromium at path, headless, with a window of width by
// height, and opens a tab; the browser stops when the test ends. faultOf
// is called for each event of the tab, on its reading goroutine, and
// returns the fault the event is, or "" for none.
func Start(t *testing.T, path string, width, height int, faultOf func(ev any) string) *Tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the suites run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(width, height),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Tab{faultOf: faultOf}
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() { cancelC(); cancelA() })
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *Tab) listen(ev any) {
	if fault := b.faultOf(ev); fault != "" {
		b.mu.Lock()
		b.faults = append(b.faults, fault)
		b.mu.Unlock()
	}
}

// CheckClean fails the test with each fault recorded so far.
func (b *Tab) CheckClean(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.faults {
		t.Errorf("browser: %s", f)
	}
}

// Run runs actions in the tab, and fails the test, saying what, if they
// fail.
func (b *Tab) Run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Eval runs expr in the page and returns its value.
func Eval[T any](t *testing.T, b *Tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// WaitFor polls expr until it is true, for up to d, and fails the test,
// saying what and showing the text of the page's main element, if it is
// not.
func (b *Tab) WaitFor(t *testing.T, what, expr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !Eval[bool](t, b, "!!("+expr+")") {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; the page shows:\n%s", what, d, strings.TrimSpace(Eval[string](t, b, `document.querySelector('main').innerText`)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Screenshot returns a PNG of the whole page.
func (b *Tab) Screenshot(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return png
}

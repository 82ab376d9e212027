package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/registrytest"
)

// The file source publishes the file, keeps the last good data when the
// file turns bad, and picks up a good file again, whether it is written in
// place or renamed over the old one.
func TestFileSourceReloadKeepsLastGoodData(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reg.yaml")
	write := func(body string) {
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("services:\n  - {name: one}\n")
	log := logrus.New()
	log.SetOutput(new(strings.Builder))
	src := NewSource(path, logrus.NewEntry(log))
	src.Debounce = 20 * time.Millisecond
	updates := make(chan *registry.Data, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, registrytest.UpdateFunc(func(d *registry.Data) { updates <- d })) }()

	next := func() *registry.Data {
		select {
		case d := <-updates:
			return d
		case <-time.After(5 * time.Second):
			t.Fatal("no update")
			return nil
		}
	}
	if d := next(); d.Services[0].Name != "one" {
		t.Fatalf("first load %v", d.Services)
	}
	write("services: [\n") // broken: no update may follow
	write("services:\n  - {name: two}\n")
	if d := next(); d.Services[0].Name != "two" {
		t.Fatalf("after a good file, got %v", d.Services)
	}
	if err := os.WriteFile(path, []byte("services:\n  - {name: three}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := next(); d.Services[0].Name != "three" {
		t.Fatalf("after an in-place write, got %v", d.Services)
	}
	src.Reload()
	if d := next(); d.Services[0].Name != "three" {
		t.Fatalf("after Reload, got %v", d.Services)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFileSourceFailsWhenTheFirstLoadFails(t *testing.T) {
	src := NewSource(filepath.Join(t.TempDir(), "missing.yaml"), logrus.NewEntry(logrus.New()))
	err := src.Run(context.Background(), registrytest.UpdateFunc(func(*registry.Data) { t.Fatal("update called") }))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("error %v", err)
	}
}

// The file source reports through its sink as every source does: it
// describes itself first as never going stale, then each good load is an
// update and a sync, and a file that turns bad is a failed sync.
func TestFileSourceReportsThroughItsSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.yaml")
	write := func(body string) {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("services:\n  - {name: one}\n")
	log := logrus.New()
	log.SetOutput(new(strings.Builder))
	src := NewSource(path, logrus.NewEntry(log))
	src.Debounce = 20 * time.Millisecond
	sink := registrytest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	for _, want := range []string{"describe file stales=false", "update 1 services", "synced"} {
		if got := sink.Next(t); got != want {
			t.Fatalf("reported %q, want %q", got, want)
		}
	}
	if info := sink.Info(t); info.Origin != path {
		t.Errorf("origin %q, want %q", info.Origin, path)
	}
	write("services: [\n")
	if got := sink.Next(t); got != "failed" {
		t.Fatalf("a bad file reported %q, want failed", got)
	}
	write("services:\n  - {name: one}\n  - {name: two}\n")
	got := sink.Next(t)
	for got == "failed" { // the editor's write came in two events
		got = sink.Next(t)
	}
	if got != "update 2 services" {
		t.Fatalf("a good file again reported %q, want update 2 services", got)
	}
	if got := sink.Next(t); got != "synced" {
		t.Fatalf("after the update reported %q, want synced", got)
	}
}

// syncLog is a logger whose lines a test reads while a source runs.
type syncLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// An editor that truncates the file and then writes it leaves an empty
// file for a moment: that is a failed load, which keeps the previous data
// and says why, never an empty registry. A reload that drops most
// services is a warning with both counts.
func TestFileSourceKeepsDataOverAnEmptyFileAndWarnsWhenMostServicesGo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.yaml")
	write := func(body string) {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("services:\n  - {name: a}\n  - {name: b}\n  - {name: c}\n  - {name: d}\n")
	var logs syncLog
	log := logrus.New()
	log.SetOutput(&logs)
	src := NewSource(path, logrus.NewEntry(log))
	src.Debounce = 20 * time.Millisecond
	sink := registrytest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	defer func() {
		cancel()
		<-done
	}()
	for _, want := range []string{"describe file stales=false", "update 4 services", "synced"} {
		if got := sink.Next(t); got != want {
			t.Fatalf("reported %q, want %q", got, want)
		}
	}
	for _, empty := range []string{"", "# rewritten by an editor\n\n"} {
		write(empty)
		if got := sink.Next(t); got != "failed" {
			t.Fatalf("an empty file reported %q, want failed", got)
		}
	}
	if !strings.Contains(logs.String(), "the file is empty") || !strings.Contains(logs.String(), "serving the previous data") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "drops most") {
		t.Errorf("a rejected file warned of dropped services:\n%s", logs.String())
	}
	write("services:\n  - {name: a}\n")
	got := sink.Next(t)
	for got == "failed" {
		got = sink.Next(t)
	}
	if got != "update 1 services" {
		t.Fatalf("reported %q, want update 1 services", got)
	}
	sink.Next(t) // synced
	if !strings.Contains(logs.String(), "drops most services") || !strings.Contains(logs.String(), "after=1 before=4") {
		t.Errorf("no warning with the counts:\n%s", logs.String())
	}
}

func TestDropsMost(t *testing.T) {
	tests := []struct {
		before, after int
		want          bool
	}{
		{4, 1, true}, {4, 2, false}, {10, 4, true}, {10, 5, false}, {3, 0, false}, {0, 0, false}, {5, 2, true},
	}
	for _, tt := range tests {
		if got := dropsMost(tt.before, tt.after); got != tt.want {
			t.Errorf("dropsMost(%d, %d) = %v, want %v", tt.before, tt.after, got, tt.want)
		}
	}
}

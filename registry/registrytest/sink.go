// Package registrytest has a registry.Sink that records what a source
// reports, for the tests of a source: every source must report through
// its sink the same way (registry.Source).
package registrytest

import (
	"fmt"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/registry"
)

// Sink records each report as a line: "describe <kind> stales=<bool>",
// "update <services> services", "synced", "failed". Reports wait in a
// buffer of 1000 for Next; a source that reports more blocks.
type Sink struct {
	lines chan string
	// Info is what the first Describe said; read it after that line.
	info chan registry.SourceInfo
}

// NewSink returns an empty Sink.
func NewSink() *Sink {
	return &Sink{lines: make(chan string, 1000), info: make(chan registry.SourceInfo, 100)}
}

// Describe implements registry.Sink.
func (s *Sink) Describe(info registry.SourceInfo) {
	s.info <- info
	s.lines <- fmt.Sprintf("describe %s stales=%v", info.Kind, info.Stales)
}

// Update implements registry.Sink.
func (s *Sink) Update(d *registry.Data) {
	s.lines <- fmt.Sprintf("update %d services", len(d.Services))
}

// Synced implements registry.Sink.
func (s *Sink) Synced(time.Duration) { s.lines <- "synced" }

// Failed implements registry.Sink.
func (s *Sink) Failed(error) { s.lines <- "failed" }

// Next returns the next report, failing t when none comes within 5 s.
func (s *Sink) Next(t testing.TB) string {
	t.Helper()
	select {
	case l := <-s.lines:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("the source reported nothing for 5 s")
		return ""
	}
}

// Info returns what the source described itself as, failing t when it
// did not.
func (s *Sink) Info(t testing.TB) registry.SourceInfo {
	t.Helper()
	select {
	case i := <-s.info:
		return i
	case <-time.After(5 * time.Second):
		t.Fatal("the source never called Describe")
		return registry.SourceInfo{}
	}
}

// UpdateFunc is a registry.Sink that hands every Update to the function
// and ignores the other reports.
type UpdateFunc func(*registry.Data)

// Describe implements registry.Sink.
func (f UpdateFunc) Describe(registry.SourceInfo) {}

// Update implements registry.Sink.
func (f UpdateFunc) Update(d *registry.Data) { f(d) }

// Synced implements registry.Sink.
func (f UpdateFunc) Synced(time.Duration) {}

// Failed implements registry.Sink.
func (f UpdateFunc) Failed(error) {}

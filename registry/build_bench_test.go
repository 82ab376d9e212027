package registry_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
)

// BenchmarkBuild builds the snapshot of each generated registry from data
// already in memory, as a sync does, each on top of the one before; heap-MB
// is what one snapshot keeps, first-ms the first build in the process
// (while the heap grows, every page it takes is a page fault). Run it
// with -benchtime 20x or more: the first few builds of the loop still grow
// the heap.
func BenchmarkBuild(b *testing.B) {
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Large} {
		b.Run(size.Name, func(b *testing.B) {
			d := benchdata.Data(size)
			cfg := registry.Config{Domain: benchdata.Domain, TTL: 5}
			if err := cfg.Check(); err != nil {
				b.Fatal(err)
			}
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			snap, _ := registry.Build(d, cfg, nil)
			first := time.Since(start)
			runtime.GC()
			runtime.ReadMemStats(&ms1)
			runtime.KeepAlive(snap)
			b.ReportAllocs()
			var prev *registry.Snapshot
			for b.Loop() {
				prev, _ = registry.Build(d, cfg, prev)
			}
			b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/1e6, "heap-MB")
			b.ReportMetric(float64(first.Microseconds())/1e3, "first-ms")
			b.ReportMetric(float64(snap.Stats().Names), "names")
		})
	}
}

// BenchmarkCheckData checks each generated registry as the Store does
// after every publish (registry.CheckData); compare it with BenchmarkBuild
// of the same size in the same run.
func BenchmarkCheckData(b *testing.B) {
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Large} {
		b.Run(size.Name, func(b *testing.B) {
			d := benchdata.Data(size)
			if p := registry.CheckData(d); len(p) != 0 {
				b.Fatalf("generated data has %d problems, the first %s", len(p), p[0].String(d))
			}
			b.ReportAllocs()
			for b.Loop() {
				registry.CheckData(d)
			}
		})
	}
}

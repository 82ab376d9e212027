package registry_test

import (
	"runtime"
	"testing"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
)

// BenchmarkBuild builds the snapshot of each generated registry from data
// already in memory, as a sync does; heap-MB is what one snapshot keeps.
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
			snap, _ := registry.Build(d, cfg, nil)
			runtime.GC()
			runtime.ReadMemStats(&ms1)
			runtime.KeepAlive(snap)
			b.ReportAllocs()
			var prev *registry.Snapshot
			for b.Loop() {
				prev, _ = registry.Build(d, cfg, prev)
			}
			b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/1e6, "heap-MB")
			b.ReportMetric(float64(snap.Stats().Names), "names")
		})
	}
}

package registry_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry/file"
)

// heapOf returns the live heap, in MB, that what keep returns holds. Each
// reading takes two GCs: the second frees what the first moved to
// sync.Pool's victim cache.
func heapOf(keep func() any) float64 {
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	v := keep()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	runtime.KeepAlive(v)
	return float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / 1e6
}

// BenchmarkData generates each benchmark registry in memory; heap-MB is
// what its Data keeps.
func BenchmarkData(b *testing.B) {
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Large} {
		b.Run(size.Name, func(b *testing.B) {
			heap := heapOf(func() any { return benchdata.Data(size) })
			b.ReportAllocs()
			for b.Loop() {
				benchdata.Data(size)
			}
			b.ReportMetric(heap, "heap-MB")
		})
	}
}

// BenchmarkLoadFile reads each benchmark registry from its file, as the
// file source does; heap-MB is what the loaded Data keeps.
func BenchmarkLoadFile(b *testing.B) {
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Large} {
		b.Run(size.Name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "registry.yaml")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			err = benchdata.WriteRegistry(f, size)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				b.Fatal(err)
			}
			var loadErr error
			heap := heapOf(func() any {
				d, err := file.Load(path)
				loadErr = err
				return d
			})
			if loadErr != nil {
				b.Fatal(loadErr)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := file.Load(path); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(heap, "heap-MB")
		})
	}
}

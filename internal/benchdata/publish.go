package benchdata

import (
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/registry"
)

// Large2x is the large registry twice over, to show how a cost grows.
var Large2x = Size{Name: "large2x", Services: 2 * Large.Services, Tasks: Large.Tasks}

// PublishSizes are the registries the publish benchmarks run on, smallest
// first.
func PublishSizes() []Size { return []Size{Small, Wide, Large, Large2x} }

// MiddleTask is the index in Data(sz).Tasks of the first task of the
// service in the middle: the one a publish benchmark changes.
func MiddleTask(sz Size) int { return sz.Services / 2 * sz.Tasks }

// Readdressed returns d, the task list copied, with the n tasks from
// index first given the address 10.250.variant.<index>: two variants of
// one change differ in every changed task.
func Readdressed(d *registry.Data, first, n int, variant byte) *registry.Data {
	v := *d
	v.Tasks = slices.Clone(d.Tasks)
	for k := first; k < first+n; k++ {
		v.Tasks[k].Addresses = newAddress(netip.AddrFrom4([4]byte{10, 250, variant, byte(k)}))
	}
	return &v
}

// SpreadChange returns d, the task list copied, with change i of a chain
// spread over the registry of size sz: the first task of another service
// at each i is given an address of its own, 10.250.<i>.
func SpreadChange(d *registry.Data, sz Size, i int) *registry.Data {
	v := *d
	v.Tasks = slices.Clone(d.Tasks)
	k := (i * 7919 % sz.Services) * sz.Tasks // another service each time
	v.Tasks[k].Addresses = newAddress(netip.AddrFrom4([4]byte{10, 250, byte(i >> 8), byte(i)}))
	return &v
}

func newAddress(a netip.Addr) []registry.NetworkAddrs {
	return []registry.NetworkAddrs{{Network: NetworkID, Addrs: []netip.Addr{a}}}
}

// PublishVariants publishes to s, which has published d, two variants of
// d in turn, each with the n tasks from index first readdressed (see
// Readdressed), and reports cpu-ms/op as TimeCPU does. The second variant
// is published once before the timer starts, so that the base's index is
// made.
func PublishVariants(b *testing.B, s *registry.Store, d *registry.Data, first, n int) {
	variants := []*registry.Data{Readdressed(d, first, n, 1), Readdressed(d, first, n, 2)}
	s.Update(variants[1])
	TimeCPU(b, 0, func(i int) { s.Update(variants[i%2]) }, nil)
}

// PublishSpread publishes to s, which has published d of size sz, a
// chain of b.N spread changes (see SpreadChange), each over the one
// before, and reports cpu-ms/op as TimeCPU does, making each Data (a copy
// of the task list, as a source would) measured apart and left out. With
// indexFirst, change 0 is published alone before the timer starts, so
// that the base's index is made, and the chain starts at change 1. settle,
// if not nil, runs after the last publish and counts (a wait for a fold).
func PublishSpread(b *testing.B, s *registry.Store, d *registry.Data, sz Size, indexFirst bool, settle func()) {
	making := CPUTime()
	for i := range b.N {
		SpreadChange(d, sz, i)
	}
	making = CPUTime() - making
	from := 0
	if indexFirst {
		s.Update(SpreadChange(d, sz, 0))
		from = 1
	}
	TimeCPU(b, making, func(i int) {
		b.StopTimer()
		d = SpreadChange(d, sz, from+i)
		b.StartTimer()
		s.Update(d)
	}, settle)
}

// TimeCPU runs op for each i below b.N with the timer on and reports the
// process's CPU time per op, the garbage collector's and other
// goroutines' included, as cpu-ms/op; leftOut is CPU time measured apart
// that the figure leaves out. settle, if not nil, runs after the last op
// with the timer off, and its CPU time counts.
func TimeCPU(b *testing.B, leftOut time.Duration, op func(i int), settle func()) {
	b.ReportAllocs()
	cpu0 := CPUTime()
	b.ResetTimer()
	for i := range b.N {
		op(i)
	}
	b.StopTimer()
	if settle != nil {
		settle()
	}
	b.ReportMetric(float64((CPUTime()-cpu0-leftOut).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// CPUTime is the CPU time the process has used (0 if it cannot tell).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

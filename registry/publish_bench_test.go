package registry_test

import (
	"net/netip"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
)

// largeTwice is the large registry twice over, to show how a cost grows.
var largeTwice = benchdata.Size{Name: "large2x", Services: 2 * benchdata.Large.Services, Tasks: benchdata.Large.Tasks}

// BenchmarkPublishOneTask publishes, through a Store, a change of one
// task's address over a full build of each registry, as a sync that finds
// one task moved does; full is the same publish built in full (as every
// publish was before layered snapshots), in the same run. cpu-ms is the
// process's CPU time per publish, the garbage collector's and other
// goroutines' included.
func BenchmarkPublishOneTask(b *testing.B) {
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Wide, benchdata.Large, largeTwice} {
		for _, mode := range []string{"layered", "full"} {
			b.Run(size.Name+"/"+mode, func(b *testing.B) {
				benchPublish(b, size, mode == "full", 1)
			})
		}
	}
}

// BenchmarkPublishOneService changes every task of one service at once:
// 1, 10 and 100 tasks, on registries of services that large.
func BenchmarkPublishOneService(b *testing.B) {
	for _, tasks := range []int{1, 10, 100} {
		size := benchdata.Size{Name: "tasks", Services: 100000 / tasks, Tasks: tasks}
		b.Run(size.Name+"-"+strconv.Itoa(tasks), func(b *testing.B) {
			benchPublish(b, size, false, tasks)
		})
	}
}

// BenchmarkPublishSpreadChanges changes one task of another service at
// each publish, on each registry, so that the overlay grows until a full
// build in the background folds it into a new base: the steady cost of
// changes spread over the cluster. cpu-ms includes the folds; making each
// Data (a copy of the task list, as a source would) is measured apart and
// left out. Run it for at least as many publishes as a fold takes to
// come (an eighth of the registry's tasks, counted old and new: 625
// publishes for large, 2,084 for wide) to count one.
func BenchmarkPublishSpreadChanges(b *testing.B) {
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Wide, benchdata.Large, largeTwice} {
		b.Run(size.Name, func(b *testing.B) { benchSpread(b, size) })
	}
}

func benchSpread(b *testing.B, sz benchdata.Size) {
	log, _ := test.NewNullLogger()
	s, err := registry.NewStore(registry.Config{Domain: benchdata.Domain, TTL: 5}, logrus.NewEntry(log))
	if err != nil {
		b.Fatal(err)
	}
	d := benchdata.Data(sz)
	s.Update(d)
	next := func(d *registry.Data, i int) *registry.Data {
		v := *d
		v.Tasks = slices.Clone(d.Tasks)
		k := (i * 7919 % sz.Services) * sz.Tasks // another service each time
		v.Tasks[k].Addresses = []registry.NetworkAddrs{{Network: benchdata.NetworkID, Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 250, byte(i >> 8), byte(i)})}}}
		return &v
	}
	making := cpuTime()
	for i := range b.N {
		next(d, i)
	}
	making = cpuTime() - making
	s.Update(next(d, 0))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		d = next(d, i+1)
		b.StartTimer()
		s.Update(d)
	}
	b.StopTimer()
	registry.WaitFold(s)
	b.ReportMetric(float64((cpuTime()-cpu0-making).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// benchPublish publishes, over a full build of the registry of size sz,
// changes of the first changed tasks of one service in the middle, two
// variants in turn, each one change from the base.
func benchPublish(b *testing.B, sz benchdata.Size, full bool, changed int) {
	log, _ := test.NewNullLogger()
	cfg := registry.Config{Domain: benchdata.Domain, TTL: 5}
	s, err := registry.NewStore(cfg, logrus.NewEntry(log))
	if err != nil {
		b.Fatal(err)
	}
	if full {
		registry.BuildInFull(s)
	}
	d := benchdata.Data(sz)
	s.Update(d)
	first := sz.Services / 2 * sz.Tasks
	variant := func(n byte) *registry.Data {
		v := *d
		v.Tasks = slices.Clone(d.Tasks)
		for k := first; k < first+changed; k++ {
			t := &v.Tasks[k]
			t.Addresses = []registry.NetworkAddrs{{Network: benchdata.NetworkID, Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 250, n, byte(k)})}}}
		}
		return &v
	}
	variants := []*registry.Data{variant(1), variant(2)}
	s.Update(variants[1]) // the base's index is made
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Update(variants[i%2])
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	registry.WaitFold(s)
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package registry_test

import (
	"strconv"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
)

// BenchmarkPublishOneTask publishes, through a Store, a change of one
// task's address over a full build of each registry, as a sync that finds
// one task moved does; full is the same publish built in full (as every
// publish was before layered snapshots), in the same run. cpu-ms is the
// process's CPU time per publish, the garbage collector's and other
// goroutines' included.
func BenchmarkPublishOneTask(b *testing.B) {
	for _, size := range benchdata.PublishSizes() {
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
	for _, size := range benchdata.PublishSizes() {
		b.Run(size.Name, func(b *testing.B) { benchSpread(b, size) })
	}
}

func benchSpread(b *testing.B, sz benchdata.Size) {
	s := newBenchStore(b, false)
	d := benchdata.Data(sz)
	s.Update(d)
	benchdata.PublishSpread(b, s, d, sz, true, func() { registry.WaitFold(s) })
}

// benchPublish publishes, over a full build of the registry of size sz,
// changes of the first changed tasks of one service in the middle, two
// variants in turn, each one change from the base.
func benchPublish(b *testing.B, sz benchdata.Size, full bool, changed int) {
	s := newBenchStore(b, full)
	d := benchdata.Data(sz)
	s.Update(d)
	benchdata.PublishVariants(b, s, d, benchdata.MiddleTask(sz), changed)
	registry.WaitFold(s)
}

// newBenchStore is a Store of the benchmark domain; full: one that builds
// every snapshot in full.
func newBenchStore(b *testing.B, full bool) *registry.Store {
	log, _ := test.NewNullLogger()
	s, err := registry.NewStore(registry.Config{Domain: benchdata.Domain, TTL: 5}, logrus.NewEntry(log))
	if err != nil {
		b.Fatal(err)
	}
	if full {
		registry.BuildInFull(s)
	}
	return s
}

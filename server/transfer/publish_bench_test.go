package transfer_test

import (
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server/transfer"
)

// BenchmarkPublishOneTaskWithTransfers publishes, through a Store, a
// change of one task's address, as registry's BenchmarkPublishOneTask
// does, with zone transfers off, on with every version of the zones
// computed from the whole snapshot (whole: as before versions were
// derived), and on as they are (derived), in the same run; the domain
// zone and the reverse zone of the benchmark subnet are transferred.
// cpu-ms is the process's CPU time per publish, the garbage collector's
// included.
func BenchmarkPublishOneTaskWithTransfers(b *testing.B) {
	large2x := benchdata.Size{Name: "large2x", Services: 2 * benchdata.Large.Services, Tasks: benchdata.Large.Tasks}
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Wide, benchdata.Large, large2x} {
		for _, mode := range []string{"off", "whole", "derived"} {
			b.Run(size.Name+"/"+mode, func(b *testing.B) { benchPublishWithTransfers(b, size, mode) })
		}
	}
}

func benchPublishWithTransfers(b *testing.B, sz benchdata.Size, mode string) {
	log, _ := test.NewNullLogger()
	cfg := registry.Config{Domain: benchdata.Domain, TTL: 5}
	if mode != "off" {
		xfr, err := transfer.New(transfer.Config{Allow: loopback, Reverse: []netip.Prefix{netip.MustParsePrefix(benchdata.Subnet)}, Log: logrus.NewEntry(log)})
		if err != nil {
			b.Fatal(err)
		}
		if mode == "whole" {
			transfer.ComputeWhole(xfr)
		}
		cfg.Serial = xfr.Serial
	}
	s, err := registry.NewStore(cfg, logrus.NewEntry(log))
	if err != nil {
		b.Fatal(err)
	}
	d := benchdata.Data(sz)
	s.Update(d)
	k := sz.Services / 2 * sz.Tasks
	variant := func(n byte) *registry.Data {
		v := *d
		v.Tasks = slices.Clone(d.Tasks)
		v.Tasks[k].Addresses = []registry.NetworkAddrs{{Network: benchdata.NetworkID, Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 250, n, byte(k)})}}}
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
}

// BenchmarkPublishSpreadChangesWithTransfers changes one task of another
// service of the large registry at each publish, as registry's
// BenchmarkPublishSpreadChanges does: the overlay, and the names a
// derived version looks up, grow until a full build in the background
// (after 2048 tasks) becomes the next base, whose version is computed
// whole. cpu-ms includes the folds; making each Data is left out.
func BenchmarkPublishSpreadChangesWithTransfers(b *testing.B) {
	for _, mode := range []string{"off", "derived"} {
		b.Run(mode, func(b *testing.B) {
			log, _ := test.NewNullLogger()
			cfg := registry.Config{Domain: benchdata.Domain, TTL: 5}
			if mode != "off" {
				xfr, err := transfer.New(transfer.Config{Allow: loopback, Reverse: []netip.Prefix{netip.MustParsePrefix(benchdata.Subnet)}, Log: logrus.NewEntry(log)})
				if err != nil {
					b.Fatal(err)
				}
				cfg.Serial = xfr.Serial
			}
			s, err := registry.NewStore(cfg, logrus.NewEntry(log))
			if err != nil {
				b.Fatal(err)
			}
			sz := benchdata.Large
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
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				d = next(d, i)
				b.StartTimer()
				s.Update(d)
			}
			b.StopTimer()
			cpu0 += making
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkSerialOneTask is the transfers' part of that publish alone:
// Transfer.Serial of two snapshots layered over one base, each one task
// changed from the other, in turn; whole computes each version from the
// whole snapshot, derived from the last version.
func BenchmarkSerialOneTask(b *testing.B) {
	large2x := benchdata.Size{Name: "large2x", Services: 2 * benchdata.Large.Services, Tasks: benchdata.Large.Tasks}
	for _, size := range []benchdata.Size{benchdata.Small, benchdata.Wide, benchdata.Large, large2x} {
		snaps := oneTaskSnapshots(b, size)
		for _, mode := range []string{"whole", "derived"} {
			b.Run(size.Name+"/"+mode, func(b *testing.B) {
				xfr, err := transfer.New(transfer.Config{Allow: loopback, Reverse: []netip.Prefix{netip.MustParsePrefix(benchdata.Subnet)}})
				if err != nil {
					b.Fatal(err)
				}
				if mode == "whole" {
					transfer.ComputeWhole(xfr)
				}
				xfr.Serial(snaps[1])
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					xfr.Serial(snaps[i%2])
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// oneTaskSnapshots publishes the registry of size sz and two changes of
// one task's address, and returns the two layered snapshots.
func oneTaskSnapshots(b *testing.B, sz benchdata.Size) [2]*registry.Snapshot {
	log, _ := test.NewNullLogger()
	s, err := registry.NewStore(registry.Config{Domain: benchdata.Domain, TTL: 5}, logrus.NewEntry(log))
	if err != nil {
		b.Fatal(err)
	}
	d := benchdata.Data(sz)
	s.Update(d)
	k := sz.Services / 2 * sz.Tasks
	var snaps [2]*registry.Snapshot
	for n := range snaps {
		v := *d
		v.Tasks = slices.Clone(d.Tasks)
		v.Tasks[k].Addresses = []registry.NetworkAddrs{{Network: benchdata.NetworkID, Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 250, byte(n), byte(k)})}}}
		s.Update(&v)
		if snaps[n] = s.Snapshot(); snaps[n].Base() == snaps[n] {
			b.Fatal("a one-task change was built in full")
		}
	}
	return snaps
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

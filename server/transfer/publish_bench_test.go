package transfer_test

import (
	"net/netip"
	"testing"

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
	for _, size := range benchdata.PublishSizes() {
		for _, mode := range []string{"off", "whole", "derived"} {
			b.Run(size.Name+"/"+mode, func(b *testing.B) {
				s := newTransferStore(b, mode)
				d := benchdata.Data(size)
				s.Update(d)
				benchdata.PublishVariants(b, s, d, benchdata.MiddleTask(size), 1)
			})
		}
	}
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
			s := newTransferStore(b, mode)
			sz := benchdata.Large
			d := benchdata.Data(sz)
			s.Update(d)
			benchdata.PublishSpread(b, s, d, sz, false, nil)
		})
	}
}

// newTransferStore is a Store of the benchmark domain with zone transfers
// off, or on for the domain and the benchmark subnet's reverse zone with
// every version computed from the whole snapshot (whole) or derived from
// the last (derived).
func newTransferStore(b *testing.B, mode string) *registry.Store {
	log, _ := test.NewNullLogger()
	cfg := registry.Config{Domain: benchdata.Domain, TTL: 5}
	if mode != "off" {
		cfg.Serial = newBenchTransfer(b, mode, logrus.NewEntry(log)).Serial
	}
	s, err := registry.NewStore(cfg, logrus.NewEntry(log))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// newBenchTransfer is a Transfer of the domain and the benchmark subnet's
// reverse zone, computing every version whole or derived (mode); log may
// be nil.
func newBenchTransfer(b *testing.B, mode string, log *logrus.Entry) *transfer.Transfer {
	xfr, err := transfer.New(transfer.Config{Allow: loopback, Reverse: []netip.Prefix{netip.MustParsePrefix(benchdata.Subnet)}, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	if mode == "whole" {
		transfer.ComputeWhole(xfr)
	}
	return xfr
}

// BenchmarkSerialOneTask is the transfers' part of that publish alone:
// Transfer.Serial of two snapshots layered over one base, each one task
// changed from the other, in turn; whole computes each version from the
// whole snapshot, derived from the last version.
func BenchmarkSerialOneTask(b *testing.B) {
	for _, size := range benchdata.PublishSizes() {
		snaps := oneTaskSnapshots(b, size)
		for _, mode := range []string{"whole", "derived"} {
			b.Run(size.Name+"/"+mode, func(b *testing.B) {
				xfr := newBenchTransfer(b, mode, nil)
				xfr.Serial(snaps[1])
				benchdata.TimeCPU(b, 0, func(i int) { xfr.Serial(snaps[i%2]) }, nil)
			})
		}
	}
}

// oneTaskSnapshots publishes the registry of size sz and two changes of
// one task's address, and returns the two layered snapshots.
func oneTaskSnapshots(b *testing.B, sz benchdata.Size) [2]*registry.Snapshot {
	s := newTransferStore(b, "off")
	d := benchdata.Data(sz)
	s.Update(d)
	var snaps [2]*registry.Snapshot
	for n := range snaps {
		s.Update(benchdata.Readdressed(d, benchdata.MiddleTask(sz), 1, byte(n)))
		if snaps[n] = s.Snapshot(); snaps[n].Base() == snaps[n] {
			b.Fatal("a one-task change was built in full")
		}
	}
	return snaps
}

package registry

import (
	"io"
	"testing"

	"github.com/sirupsen/logrus"
)

func exampleStore(t *testing.T) *Store {
	t.Helper()
	l := logrus.New()
	l.SetOutput(io.Discard)
	st, err := NewStore(Config{Domain: "swarm.internal.", TTL: 5}, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	d, err := LoadFile("../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st.Update(d)
	return st
}

func aSet(t *testing.T, snap *Snapshot, key string) *RRSet {
	t.Helper()
	n, ok := snap.Lookup([]byte(key))
	if !ok || n.View(nil).A == nil {
		t.Fatalf("no A set at %s", key)
	}
	return n.View(nil).A
}

func TestAnswersCountTheRecordTheyPutFirst(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		reads  int // answers that advance the rotation
		peeks  int // API reads that do not
		counts []uint32
		shares []float64
	}{
		{"round robin puts each task first equally often", "tasks.web", 300, 0, []uint32{100, 100, 100}, []float64{1. / 3, 1. / 3, 1. / 3}},
		{"weighted puts tasks first by weight", "api", 400, 0, []uint32{100, 300}, []float64{.25, .75}},
		{"a peek counts nothing", "tasks.web", 0, 50, []uint32{0, 0, 0}, []float64{1. / 3, 1. / 3, 1. / 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := aSet(t, exampleStore(t).Snapshot(), tc.key)
			order := make([]int, 0, 8)
			for range tc.reads {
				order = set.Order(order[:0])
			}
			for range tc.peeks {
				order = set.Peek(order[:0])
			}
			got := set.FirstCounts(nil)
			if len(got) != len(tc.counts) {
				t.Fatalf("counts %v, want %v", got, tc.counts)
			}
			for i := range got {
				if got[i] != tc.counts[i] {
					t.Fatalf("counts %v, want %v", got, tc.counts)
				}
			}
			shares := set.Shares(nil)
			for i := range shares {
				if d := shares[i] - tc.shares[i]; d > 1e-9 || d < -1e-9 {
					t.Fatalf("shares %v, want %v", shares, tc.shares)
				}
			}
		})
	}
}

func TestASetOfOneRecordHasNoCountsAndIsAlwaysFirst(t *testing.T) {
	set := aSet(t, exampleStore(t).Snapshot(), "web")
	set.Order(nil)
	if got := set.FirstCounts(nil); len(got) != 0 {
		t.Fatalf("counts %v, want none", got)
	}
	if got := set.Shares(nil); len(got) != 1 || got[0] != 1 {
		t.Fatalf("shares %v, want [1]", got)
	}
	if set.Rotation() != (RotationID{}) {
		t.Fatal("a set of one record has a rotation")
	}
}

func TestRotationIDLastsWhileTheSetIsUnchanged(t *testing.T) {
	st := exampleStore(t)
	before := st.Snapshot()
	st.Rebuild()
	same := st.Snapshot()
	if aSet(t, before, "tasks.web").Rotation() != aSet(t, same, "tasks.web").Rotation() {
		t.Fatal("an unchanged set changed its rotation")
	}
	if aSet(t, same, "tasks.web").FirstCounts(nil)[0] != 0 {
		t.Fatal("a new snapshot's counters do not start at zero")
	}
	if aSet(t, same, "tasks.web").Rotation() == aSet(t, same, "api").Rotation() {
		t.Fatal("two sets share a rotation")
	}
	d := *same.Data
	d.Services = append([]Service(nil), d.Services...)
	for i := range d.Services {
		if d.Services[i].Name == "web" {
			d.Services[i].Labels = map[string]string{LabelScheduler: "weighted"}
		}
	}
	st.Update(&d)
	if aSet(t, same, "tasks.web").Rotation() == aSet(t, st.Snapshot(), "tasks.web").Rotation() {
		t.Fatal("a set whose scheduler changed kept its rotation")
	}
	set := aSet(t, st.Snapshot(), "tasks.web")
	set.Order(nil)
	var sum uint32
	for _, c := range set.FirstCounts(nil) {
		sum += c
	}
	if sum != 1 {
		t.Fatalf("one answer counted %d times", sum)
	}
}

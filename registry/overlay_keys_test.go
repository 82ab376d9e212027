package registry

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// TestOverlayKeysHoldEveryNameThatDiffersFromTheBase publishes a random
// chain of changes: at every key a layered snapshot answers other than
// its base (a name either lists, the suffixes of each), OverlayKeys has
// the key; a full build has none.
func TestOverlayKeysHoldEveryNameThatDiffersFromTheBase(t *testing.T) {
	log, _ := test.NewNullLogger()
	layered := 0
	for seed := uint64(1); seed <= 3; seed++ {
		s, err := NewStore(Config{Domain: "swarm.local", TTL: 5}, logrus.NewEntry(log))
		if err != nil {
			t.Fatal(err)
		}
		g := newRandomCluster(rand.New(rand.NewPCG(seed, 9)))
		s.Update(g.data())
		for step := 0; step < 60; step++ {
			what := g.mutate()
			s.Update(g.data())
			snap := s.Snapshot()
			keys := map[string]bool{}
			snap.OverlayKeys(func(k string) { keys[k] = true })
			if snap.Base() == snap {
				if len(keys) != 0 {
					t.Fatalf("seed %d step %d (%s): a full build has %d overlay keys", seed, step, what, len(keys))
				}
				continue
			}
			layered++
			for k := range probeKeys(snap, snap.Base()) {
				if !keys[k] && recordsAt(snap, k) != recordsAt(snap.Base(), k) {
					t.Fatalf("seed %d step %d (%s): %s differs from the base and is not an overlay key", seed, step, what, k)
				}
			}
		}
	}
	if layered == 0 {
		t.Fatal("no snapshot was layered")
	}
}

// probeKeys is every key the snapshots list, and the suffixes of each.
func probeKeys(snaps ...*Snapshot) map[string]bool {
	probes := map[string]bool{}
	for _, s := range snaps {
		s.Names(func(k string, _ Name) {
			for {
				probes[k] = true
				dot := strings.IndexByte(k, '.')
				if dot < 0 {
					break
				}
				k = k[dot+1:]
			}
		})
	}
	return probes
}

// recordsAt is the views and records at key, as text.
func recordsAt(s *Snapshot, key string) string {
	n, ok := s.Lookup([]byte(key))
	if !ok {
		return "no name"
	}
	var b bytes.Buffer
	for _, v := range n.Views() {
		fmt.Fprintf(&b, "view %q:", v.Network)
		for _, set := range v.Sets() {
			fmt.Fprintf(&b, " %d/%d", set.Type, set.TTL)
			for i := 0; i < set.Len(); i++ {
				fmt.Fprintf(&b, " %x", set.Record(i))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

package registry

import (
	"math/rand/v2"
	"testing"
)

// TestOverlayKeysHoldEveryNameThatDiffersFromTheBase publishes a random
// chain of changes: at every key a layered snapshot answers other than
// its base (a name either lists, the suffixes of each), OverlayKeys has
// the key; a full build has none.
func TestOverlayKeysHoldEveryNameThatDiffersFromTheBase(t *testing.T) {
	layered := 0
	for seed := uint64(1); seed <= 3; seed++ {
		s := newTestStore(t, Config{})
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
				if !keys[k] && stableDump(snap, k) != stableDump(snap.Base(), k) {
					t.Fatalf("seed %d step %d (%s): %s differs from the base and is not an overlay key", seed, step, what, k)
				}
			}
		}
	}
	if layered == 0 {
		t.Fatal("no snapshot was layered")
	}
}

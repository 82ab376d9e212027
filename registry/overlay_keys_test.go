package registry

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestOverlayKeysHoldEveryNameThatDiffersFromTheBase publishes a random
// chain of changes: at every key a layered snapshot answers other than
// its base (a name either lists, the suffixes of each), OverlayKeysSince
// the base has the key; a full build has none.
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
			if !snap.OverlayKeysSince(snap.Base(), func(k string) { keys[k] = true }) {
				t.Fatalf("seed %d step %d (%s): cannot tell against its own base", seed, step, what)
			}
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

// TestOverlayKeysSinceHoldEveryNameThatDiffersFromAnEarlierSnapshot
// publishes a random chain of changes, folding now and then: against each
// of the last snapshots over the same base, OverlayKeysSince has every
// key at which the new snapshot answers otherwise, and fewer keys than
// the two snapshots' overlay keys when most groups are kept; against one
// over another base it cannot tell.
func TestOverlayKeysSinceHoldEveryNameThatDiffersFromAnEarlierSnapshot(t *testing.T) {
	setFoldTasks(t, 200)
	compared, otherBase, fewer := 0, 0, 0
	for seed := uint64(1); seed <= 3; seed++ {
		s := newTestStore(t, Config{})
		g := newRandomCluster(rand.New(rand.NewPCG(seed, 13)))
		s.Update(g.data())
		var earlier []*Snapshot
		for step := 0; step < 60; step++ {
			what := g.mutate()
			s.Update(g.data())
			if step%7 == 0 {
				s.waitFold()
			}
			snap := s.Snapshot()
			for back, p := range earlier {
				ctx := fmt.Sprintf("seed %d step %d (%s), %d back", seed, step, what, len(earlier)-back)
				keys := map[string]bool{}
				if !snap.OverlayKeysSince(p, func(k string) { keys[k] = true }) {
					if p.Base() == snap.Base() {
						t.Fatalf("%s: cannot tell over the same base", ctx)
					}
					otherBase++
					continue
				}
				if p.Base() != snap.Base() {
					t.Fatalf("%s: tells over another base", ctx)
				}
				compared++
				all := map[string]bool{}
				snap.OverlayKeysSince(snap.Base(), func(k string) { all[k] = true })
				p.OverlayKeysSince(p.Base(), func(k string) { all[k] = true })
				if len(keys) < len(all) {
					fewer++
				}
				for k := range probeKeys(snap, p) {
					if !keys[k] && stableDump(snap, k) != stableDump(p, k) {
						t.Fatalf("%s: %s differs and is not a key since", ctx, k)
					}
				}
			}
			earlier = append(earlier, snap)
			if len(earlier) > 4 {
				earlier = earlier[1:]
			}
		}
	}
	t.Logf("%d pairs compared, %d over another base, %d with fewer keys than the overlays", compared, otherBase, fewer)
	if compared == 0 || otherBase == 0 || fewer == 0 {
		t.Fatalf("%d pairs compared, %d over another base, %d with fewer keys", compared, otherBase, fewer)
	}
}

package transfer

import (
	"fmt"
	"testing"
)

// TestOwnNamesAreKeptByEveryVersion adds names in rounds, replacing some:
// each table finds its own names with their records, those of a later
// round are not in an earlier table, and an earlier table is unchanged.
func TestOwnNamesAreKeptByEveryVersion(t *testing.T) {
	name := func(i, round int) *ownName {
		owner := appendWireName(nil, fmt.Sprintf("n%d.swarm.local.", i))
		n := &ownName{h: fnv64(owner), owner: string(owner)}
		n.arena = append(owner, byte(round))
		n.ends = []uint32{uint32(len(n.arena))}
		return n
	}
	var tables []*ownNames
	var o *ownNames
	for round := 0; round < 6; round++ {
		var set []*ownName
		for i := round * 40; i < (round+1)*40+10; i++ { // 10 replaced next round
			set = append(set, name(i, round))
		}
		o = o.with(set)
		tables = append(tables, o)
	}
	for round, o := range tables {
		if want := (round+1)*40 + 10; o.names != want || o.recs != want {
			t.Fatalf("round %d: %d names %d records, want %d", round, o.names, o.recs, want)
		}
		for i := 0; i < (round+2)*40+10; i++ {
			owner := []byte(name(i, 0).owner)
			n := o.find(owner, fnv64(owner))
			switch {
			case i >= (round+1)*40+10 && n != nil:
				t.Fatalf("round %d: name %d of a later round", round, i)
			case i < (round+1)*40+10 && n == nil:
				t.Fatalf("round %d: name %d missing", round, i)
			case n != nil:
				// Round r adds names 40r to 40r+49: the last ten are
				// replaced by round r+1.
				want := i / 40
				if want > round {
					want--
				}
				if got := int(n.arena[len(n.arena)-1]); got != want {
					t.Fatalf("round %d: name %d of round %d, want %d", round, i, got, want)
				}
			}
		}
	}
}

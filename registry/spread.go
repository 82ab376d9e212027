package registry

import (
	"sync/atomic"

	"github.com/swarmdns/swarmdns/scheduler"
)

// How answers are spread: every RRSet of more than one record counts, per
// record, the answers that put it first (RRSet.Order adds one with an
// atomic add; no lock, no allocation). The counters belong to the
// snapshot that packed the set and start at zero when the Store publishes
// it; a layered snapshot shares its base's sets, counters and all, and
// counts from zero only in the sets of its overlay. The operations page
// reads them every second and keeps the history.

// countFirsts gives every rotated set of s its counters, in one
// allocation; the Store calls it before publishing s.
func (s *Snapshot) countFirsts() {
	if s.over != nil {
		s.over.fresh.countFirsts() // the base's and older groups' sets count already
		return
	}
	n := 0
	for i := range s.sets {
		if set := &s.sets[i]; set.rot != 0 {
			n += int(set.n)
		}
	}
	all := make([]atomic.Uint32, n)
	for i := range s.sets {
		set := &s.sets[i]
		if set.rot == 0 {
			continue
		}
		if rot := &set.tab.rots[set.rot-1]; rot.firsts == nil {
			rot.firsts, all = all[:set.n:set.n], all[set.n:]
		}
	}
}

// EachRotated calls fn for every RRSet of more than one record, in the
// same order on every call.
func (s *Snapshot) EachRotated(fn func(set *RRSet)) {
	if s.over != nil {
		s.over.eachRotated(s, fn)
		return
	}
	for i := range s.sets {
		if s.sets[i].rot != 0 {
			fn(&s.sets[i])
		}
	}
}

// FirstCounts appends to dst, for each record of the set, how many
// answers have put it first since the snapshot that packed it was
// published (a layered snapshot's base, for a set it shares), modulo
// 2^32: subtract two readings as uint32 for the answers in between. It
// appends nothing for a set of one record or a snapshot no Store
// published.
func (r *RRSet) FirstCounts(dst []uint32) []uint32 {
	if r.rot == 0 {
		return dst
	}
	for i := range r.tab.rots[r.rot-1].firsts {
		dst = append(dst, r.tab.rots[r.rot-1].firsts[i].Load())
	}
	return dst
}

// Shares appends to dst the share of answers that the set's scheduler
// promises to put each record first, in the long run; nil when the
// scheduler does not say (a custom policy). A set of one record is
// always first.
func (r *RRSet) Shares(dst []float64) []float64 {
	if r.rot == 0 {
		return append(dst, 1)
	}
	return scheduler.Shares(r.tab.rots[r.rot-1].order, dst)
}

// A RotationID names a set's rotation: it stays the same across
// snapshots while the set's records, weights and scheduler do (the
// rotation carries over), and it differs between sets.
type RotationID struct{ state *scheduler.State }

// Rotation returns the set's RotationID; the zero RotationID for a set
// of one record.
func (r *RRSet) Rotation() RotationID { return RotationID{r.state()} }

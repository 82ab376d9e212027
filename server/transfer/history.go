package transfer

import "bytes"

// The history of a zone keeps the differences between its last versions
// for IXFR, bounded by count and by bytes; the oldest go first.
const (
	historyMaxDiffs = 64
	historyMaxBytes = 32 << 20
)

// diff is what changed from one version of a zone to the next.
type diff struct {
	from, to       uint32
	fromSOA, toSOA []byte
	removed, added []string
	bytes          int
}

// diffOf compares two versions of a zone, by merging their distinct
// records in (hash, bytes) order.
func diffOf(old, cur *zone) *diff {
	d := &diff{from: old.serial, to: cur.serial, fromSOA: old.soa, toSOA: cur.soa}
	x, y := old.listing(), cur.listing()
	a, b := x.byHash, y.byHash
	for len(a) > 0 || len(b) > 0 {
		c := 0
		switch {
		case len(b) == 0:
			c = -1
		case len(a) == 0:
			c = 1
		default:
			c = compareAcross(x, a[0], y, b[0])
		}
		switch {
		case c < 0:
			d.removed = append(d.removed, string(x.record(a[0].i)))
			d.bytes += len(d.removed[len(d.removed)-1])
			a = a[1:]
		case c > 0:
			d.added = append(d.added, string(y.record(b[0].i)))
			d.bytes += len(d.added[len(d.added)-1])
			b = b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return d
}

// compareAcross orders a record of x and one of y by hash; two records
// with one hash are the same when their bytes are, else the removal and
// the addition of the two (still a correct difference).
func compareAcross(x *listing, a hashed, y *listing, b hashed) int {
	switch {
	case a.h < b.h:
		return -1
	case a.h > b.h:
		return 1
	case bytes.Equal(x.record(a.i), y.record(b.i)):
		return 0
	}
	return -1
}

// history is the diffs of one zone, oldest first; they chain: each one's
// from is the previous one's to.
type history struct {
	diffs []*diff
	bytes int
}

func (h *history) add(d *diff) {
	if d.bytes > historyMaxBytes {
		h.diffs, h.bytes = nil, 0
		return
	}
	h.diffs = append(h.diffs, d)
	h.bytes += d.bytes
	for len(h.diffs) > historyMaxDiffs || h.bytes > historyMaxBytes {
		h.bytes -= h.diffs[0].bytes
		h.diffs = h.diffs[1:] // a transfer under way may hold the slice
	}
}

// since returns the diffs that lead from serial to the newest version, or
// false when the history does not reach back to serial.
func (h *history) since(serial uint32) ([]*diff, bool) {
	for i, d := range h.diffs {
		if d.from == serial {
			return h.diffs[i:], true
		}
	}
	return nil, false
}

package transfer

import "slices"

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

// diffOf compares two sorted record lists.
func diffOf(old, cur *zone) *diff {
	d := &diff{from: old.serial, to: cur.serial, fromSOA: old.soa, toSOA: cur.soa}
	a, b := old.records, cur.records
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] < b[0]:
			d.removed = append(d.removed, a[0])
			d.bytes += len(a[0])
			a = a[1:]
		case len(a) == 0 || b[0] < a[0]:
			d.added = append(d.added, b[0])
			d.bytes += len(b[0])
			b = b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return d
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
		h.diffs = slices.Delete(h.diffs, 0, 1)
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

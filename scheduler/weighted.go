package scheduler

import "sort"

// weighted is smooth weighted round robin as nginx does it: over any window
// of sum(weights) consecutive queries each endpoint comes first exactly
// weight times, spread out rather than in bursts. The whole sequence is
// computed at sync time; a query reads its position from an atomic counter
// and answers the endpoints in the order they next come up in the sequence.
type weighted struct{}

// maxCycle bounds the precomputed sequence; larger weight sums are scaled
// down proportionally (each weight stays at least 1).
const maxCycle = 1 << 16

func (weighted) Name() string { return Weighted }

func (weighted) Compile(weights []uint32) Orderer {
	if len(weights) > maxCycle {
		return rrOrder(len(weights))
	}
	w := reduce(weights)
	n := len(w)
	var sum int
	for _, x := range w {
		sum += int(x)
	}
	// Smooth weighted round robin: each step add every weight to its
	// current value, pick the largest, subtract the total from it.
	seq := make([]uint16, sum)
	cur := make([]int, n)
	for s := range seq {
		best := 0
		for i := range w {
			cur[i] += int(w[i])
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= sum
		seq[s] = uint16(best)
	}
	o := &wrrOrder{n: n, cycle: uint64(sum), seq: seq}
	if sum*n <= maxOrders {
		o.orders = orderTable(seq, n)
	} else {
		o.rest = byWeight(w)
	}
	return o
}

// maxOrders bounds the table of whole-answer orders (sum(weights) × n).
const maxOrders = 1 << 18

// orderTable gives, for every position p of seq, the whole answer: the
// endpoints in the order they next come up from p, cyclically. Walking seq
// backwards twice keeps the next occurrence of each endpoint at hand.
func orderTable(seq []uint16, n int) []uint16 {
	sum := len(seq)
	next := make([]int, n)
	for i := range next {
		next[i] = 3 * sum // not seen yet; every endpoint occurs in seq
	}
	orders := make([]uint16, sum*n)
	idx := make([]uint16, n)
	for q := 2*sum - 1; q >= 0; q-- {
		next[seq[q%sum]] = q
		if q >= sum {
			continue
		}
		for i := range idx {
			idx[i] = uint16(i)
		}
		sort.Slice(idx, func(a, b int) bool { return next[idx[a]] < next[idx[b]] })
		copy(orders[q*n:], idx)
	}
	return orders
}

// byWeight orders endpoints by descending weight, for answers too large for
// an order table: the first endpoint still follows the exact sequence.
func byWeight(w []uint32) []uint16 {
	idx := make([]uint16, len(w))
	for i := range idx {
		idx[i] = uint16(i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return w[idx[a]] > w[idx[b]] })
	return idx
}

// reduce returns the weights Reduce makes of weights.
func reduce(weights []uint32) []uint32 {
	w := append([]uint32(nil), weights...)
	Reduce(w)
	return w
}

// Reduce rewrites w, positive weights, to the weights the weighted policy
// rotates by, in the same proportions: divided by their greatest common
// divisor and, when their sum is over 65536, scaled down so that it is not,
// each staying at least 1 (more than 65536 weights are all 1). An SRV
// record's weight field carries them, so that a client choosing by
// RFC 2782 gives each target the share the rotation gives it.
func Reduce(w []uint32) {
	if len(w) > maxCycle {
		for i := range w {
			w[i] = 1
		}
		return
	}
	g := uint32(0)
	for _, x := range w {
		g = gcd(g, x)
	}
	var sum uint64
	for i := range w {
		w[i] /= g
		sum += uint64(w[i])
	}
	if sum > maxCycle {
		for i := range w {
			w[i] = max(1, uint32(uint64(w[i])*(maxCycle-uint64(len(w)))/sum))
		}
	}
}

func gcd(a, b uint32) uint32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

type wrrOrder struct {
	n      int
	cycle  uint64
	seq    []uint16
	orders []uint16 // n per position; nil when too large
	rest   []uint16 // by weight, when orders is nil
}

func (o *wrrOrder) Order(dst []int, pos uint64, limit int) []int {
	p := int(pos % o.cycle)
	k := limitOf(o.n, limit)
	if o.orders != nil {
		for _, i := range o.orders[p*o.n : p*o.n+k] {
			dst = append(dst, int(i))
		}
		return dst
	}
	base, first := len(dst), o.seq[p]
	dst = append(dst, int(first))
	for _, i := range o.rest {
		if len(dst)-base >= k {
			break
		}
		if i != first {
			dst = append(dst, int(i))
		}
	}
	return dst
}

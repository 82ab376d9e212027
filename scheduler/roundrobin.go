package scheduler

// roundRobin rotates the answer by one endpoint per query: over any k×n
// consecutive queries each of n endpoints comes first exactly k times,
// however the queries interleave, because each query takes its own position
// from one atomic counter.
type roundRobin struct{}

func (roundRobin) Name() string { return RoundRobin }

func (roundRobin) Compile(weights []uint32) Orderer { return rrOrder(len(weights)) }

type rrOrder int

func (r rrOrder) Order(dst []int, pos uint64, limit int) []int {
	n := int(r)
	first := int(pos % uint64(n))
	for i, k := first, limitOf(n, limit); k > 0; k-- {
		dst = append(dst, i)
		if i++; i == n {
			i = 0
		}
	}
	return dst
}

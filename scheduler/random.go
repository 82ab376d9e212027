package scheduler

import (
	"math/rand/v2"
	"sync"
)

// randomPolicy answers in a uniformly random order (Fisher–Yates).
type randomPolicy struct{ src func(n int) int }

// NewRandom returns the random policy. With a nil source it draws from the
// runtime's per-thread generator, lock-free; a given source (tests use a
// fixed seed) is serialized with a mutex.
func NewRandom(src rand.Source) Policy {
	if src == nil {
		return randomPolicy{src: rand.IntN}
	}
	var mu sync.Mutex
	r := rand.New(src)
	return randomPolicy{src: func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		return r.IntN(n)
	}}
}

func (randomPolicy) Name() string { return Random }

func (p randomPolicy) Compile(weights []uint32) Orderer {
	return randomOrder{n: len(weights), src: p.src}
}

type randomOrder struct {
	n   int
	src func(n int) int
}

func (o randomOrder) Order(dst []int, _ uint64, limit int) []int {
	base := len(dst)
	for i := 0; i < o.n; i++ {
		dst = append(dst, i)
	}
	out := dst[base:]
	// A partial shuffle is enough for the first limit places.
	k := limitOf(o.n, limit)
	for i := 0; i < k && i < o.n-1; i++ {
		j := i + o.src(o.n-i)
		out[i], out[j] = out[j], out[i]
	}
	return dst[:base+k]
}

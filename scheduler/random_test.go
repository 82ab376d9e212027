package scheduler

import (
	"math/rand/v2"
	"testing"
)

// With a fixed seed, the first place over many queries is uniform: the
// chi-square statistic stays under the 0.999 quantile for n-1 degrees of
// freedom, and so does each position's distribution.
func TestRandomIsUniform(t *testing.T) {
	const n, queries = 6, 60000
	o := NewRandom(rand.NewPCG(1, 2)).Compile(make([]uint32, n))
	var counts [n][n]int
	for q := 0; q < queries; q++ {
		order := o.Order(nil, 0, 0)
		if !permutation(order, n) {
			t.Fatalf("answer %v is not a permutation", order)
		}
		for pos, i := range order {
			counts[pos][i]++
		}
	}
	const chi2Limit = 20.52 // 5 degrees of freedom, p = 0.001
	expected := float64(queries) / n
	for pos := range counts {
		var chi2 float64
		for _, c := range counts[pos] {
			d := float64(c) - expected
			chi2 += d * d / expected
		}
		if chi2 > chi2Limit {
			t.Errorf("position %d: chi-square %.2f > %.2f, counts %v", pos, chi2, chi2Limit, counts[pos])
		}
	}
}

func TestRandomLimitCutsAnswer(t *testing.T) {
	o := NewRandom(rand.NewPCG(3, 4)).Compile(make([]uint32, 5))
	if got := o.Order(nil, 0, 2); len(got) != 2 || got[0] == got[1] {
		t.Fatalf("order %v", got)
	}
}

func TestLookupKnowsEveryPolicy(t *testing.T) {
	for _, name := range Names() {
		p, err := Lookup(name)
		if err != nil || p.Name() != name {
			t.Fatalf("Lookup(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := Lookup("fastest"); err == nil {
		t.Fatal("unknown policy accepted")
	}
}

func BenchmarkOrder(b *testing.B) {
	weights := []uint32{3, 1, 2, 1, 1, 2, 1, 1, 1, 1}
	for _, name := range Names() {
		p, _ := Lookup(name)
		o := p.Compile(weights)
		b.Run(name, func(b *testing.B) {
			var st State
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]int, 0, len(weights))
				for pb.Next() {
					buf = o.Order(buf[:0], st.Next(), 0)
				}
			})
		})
	}
}

package scheduler

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The promise each policy states is what its answers do: over many
// positions, the share of answers that put each endpoint first.
func TestSharesAreWhatAnswersPutFirst(t *testing.T) {
	seeded := NewRandom(rand.NewPCG(1, 2))
	tests := []struct {
		name    string
		orderer Orderer
		want    []float64
		// tol is the allowed difference from counting; 0 for a policy
		// whose cycle is counted exactly.
		tol float64
	}{
		{"round robin shares equally", roundRobin{}.Compile([]uint32{1, 1, 1, 1}), []float64{.25, .25, .25, .25}, 0},
		{"round robin ignores weights", roundRobin{}.Compile([]uint32{5, 1}), []float64{.5, .5}, 0},
		{"weighted shares by weight", weighted{}.Compile([]uint32{2, 6}), []float64{.25, .75}, 0},
		{"weighted 5-1-1", weighted{}.Compile([]uint32{5, 1, 1}), []float64{5. / 7, 1. / 7, 1. / 7}, 0},
		{"random shares equally", seeded.Compile([]uint32{1, 1, 1}), []float64{1. / 3, 1. / 3, 1. / 3}, 0.02},
		{"grouped puts only the first group first", Grouped(
			Group{Indices: []int{2, 0}, Orderer: weighted{}.Compile([]uint32{3, 1})},
			Group{Indices: []int{1}, Orderer: roundRobin{}.Compile([]uint32{1})},
		), []float64{.25, 0, .75}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Shares(tc.orderer, nil)
			if len(got) != len(tc.want) {
				t.Fatalf("shares %v, want %v", got, tc.want)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-9 {
					t.Fatalf("shares %v, want %v", got, tc.want)
				}
			}
			const queries = 8400 // a multiple of every cycle above
			count := make([]float64, len(got))
			var st State
			for range queries {
				count[tc.orderer.Order(nil, st.Next(), 1)[0]]++
			}
			for i := range count {
				if d := math.Abs(count[i]/queries - got[i]); d > tc.tol+1e-9 {
					t.Errorf("endpoint %d came first in %.4f of answers, promised %.4f", i, count[i]/queries, got[i])
				}
			}
		})
	}
}

type silentOrderer struct{}

func (silentOrderer) Order(dst []int, _ uint64, _ int) []int { return append(dst, 0) }

func TestSharesOfAnOrdererThatDoesNotSayIsNil(t *testing.T) {
	if got := Shares(silentOrderer{}, nil); got != nil {
		t.Fatalf("shares %v, want nil", got)
	}
	if got := Shares(Grouped(Group{Indices: []int{0}, Orderer: silentOrderer{}}), nil); got != nil {
		t.Fatalf("grouped shares %v, want nil", got)
	}
}

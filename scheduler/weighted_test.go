package scheduler

import (
	"slices"
	"testing"
)

func TestWeightedFirstCountsMatchWeightsInEveryWindow(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
	}{
		{"equal weights behave as round robin", []uint32{1, 1, 1}},
		{"5-1-1 as in nginx", []uint32{5, 1, 1}},
		{"weights with a common divisor", []uint32{20, 10, 30}},
		{"one heavy endpoint among many", []uint32{7, 1, 1, 1, 1, 1, 1}},
		{"node times service weights", []uint32{6, 3, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := weighted{}.Compile(tc.weights)
			w := reduce(tc.weights)
			sum := 0
			for _, x := range w {
				sum += int(x)
			}
			var st State
			var firsts []int
			for q := 0; q < 3*sum; q++ {
				order := o.Order(nil, st.Next(), 0)
				if len(order) != len(w) {
					t.Fatalf("answer has %d endpoints, want %d", len(order), len(w))
				}
				if !permutation(order, len(w)) {
					t.Fatalf("answer %v is not a permutation", order)
				}
				firsts = append(firsts, order[0])
			}
			// Every window of sum consecutive queries, not just aligned ones.
			for start := 0; start+sum <= len(firsts); start++ {
				count := make([]int, len(w))
				for _, f := range firsts[start : start+sum] {
					count[f]++
				}
				for i := range w {
					if count[i] != int(w[i]) {
						t.Fatalf("window at %d: endpoint %d first %d times, want %d", start, i, count[i], w[i])
					}
				}
			}
		})
	}
}

func TestWeightedIsSmoothNotBursty(t *testing.T) {
	// nginx's example: weights 5,1,1 give a a b a c a a, never five a in a row.
	o := weighted{}.Compile([]uint32{5, 1, 1})
	var st State
	var got []int
	for q := 0; q < 7; q++ {
		got = append(got, o.Order(nil, st.Next(), 1)[0])
	}
	if want := []int{0, 0, 1, 0, 2, 0, 0}; !equal(got, want) {
		t.Fatalf("sequence %v, want %v", got, want)
	}
}

func TestWeightedRestFollowsNextTurns(t *testing.T) {
	o := weighted{}.Compile([]uint32{5, 1, 1})
	var st State
	// Position 0 of a a b a c a a: b comes up before c.
	if got := o.Order(nil, st.Next(), 0); !equal(got, []int{0, 1, 2}) {
		t.Fatalf("order %v, want [0 1 2]", got)
	}
}

func TestWeightedLargeSumsStayExactForFirst(t *testing.T) {
	weights := make([]uint32, 300)
	for i := range weights {
		weights[i] = uint32(i + 1)
	}
	o := weighted{}.Compile(weights).(*wrrOrder)
	if o.orders != nil {
		t.Fatal("expected the table-free form for a large answer")
	}
	var st State
	buf := make([]int, 0, 300)
	got := o.Order(buf, st.Next(), 3)
	if len(got) != 3 || got[0] == got[1] || got[1] == got[2] {
		t.Fatalf("order %v", got)
	}
	if a := testing.AllocsPerRun(100, func() { o.Order(buf[:0], st.Next(), 0) }); a != 0 {
		t.Fatalf("%v allocations per order", a)
	}
}

func TestReduceKeepsProportions(t *testing.T) {
	w := reduce([]uint32{1000000, 1})
	if w[1] != 1 || w[0] < 60000 {
		t.Fatalf("reduced to %v", w)
	}
}

func TestReduceDividesByTheGCDAndFitsSixteenBits(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		want    []uint32
	}{
		{"coprime weights stay", []uint32{1, 3, 3}, []uint32{1, 3, 3}},
		{"a common divisor is divided out", []uint32{2, 6}, []uint32{1, 3}},
		{"one weight is 1", []uint32{40}, []uint32{1}},
		{"a sum over 65536 is scaled down in proportion", []uint32{90001, 30000}, []uint32{49150, 16383}},
		{"scaling keeps every weight at least 1", []uint32{1000000, 1}, []uint32{65533, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := append([]uint32(nil), tt.weights...)
			Reduce(w)
			if !slices.Equal(w, tt.want) {
				t.Errorf("Reduce(%v) = %v, want %v", tt.weights, w, tt.want)
			}
		})
	}
	many := make([]uint32, maxCycle+1)
	for i := range many {
		many[i] = uint32(i%7 + 1)
	}
	Reduce(many)
	for i, x := range many {
		if x != 1 {
			t.Fatalf("more than 65536 weights: weight %d is %d, want 1", i, x)
		}
	}
}

func permutation(order []int, n int) bool {
	seen := make([]bool, n)
	for _, i := range order {
		if i < 0 || i >= n || seen[i] {
			return false
		}
		seen[i] = true
	}
	return len(order) == n
}

package scheduler

import (
	"sync"
	"testing"
)

func TestRoundRobinRotatesOnePerQuery(t *testing.T) {
	o := roundRobin{}.Compile([]uint32{1, 1, 1})
	var st State
	want := [][]int{{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {0, 1, 2}}
	for q, w := range want {
		got := o.Order(nil, st.Next(), 0)
		if !equal(got, w) {
			t.Fatalf("query %d: order %v, want %v", q, got, w)
		}
	}
}

func TestRoundRobinLimit(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		limit int
		want  int
	}{
		{"limit 0 answers every endpoint", 4, 0, 4},
		{"limit 1 answers one endpoint", 4, 1, 1},
		{"limit above n answers every endpoint", 2, 5, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st State
			got := roundRobin{}.Compile(make([]uint32, tc.n)).Order(nil, st.Next(), tc.limit)
			if len(got) != tc.want {
				t.Fatalf("got %d endpoints, want %d", len(got), tc.want)
			}
		})
	}
}

// Over k×n queries issued from many goroutines at once, each endpoint must
// come first exactly k times.
func TestRoundRobinExactUnderConcurrency(t *testing.T) {
	const n, k, workers = 5, 400, 8
	o := roundRobin{}.Compile(make([]uint32, n))
	var st State
	firsts := make([][n]int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]int, 0, n)
			for q := 0; q < n*k/workers; q++ {
				firsts[w][o.Order(buf[:0], st.Next(), 0)[0]]++
			}
		}(w)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		total := 0
		for w := range firsts {
			total += firsts[w][i]
		}
		if total != k {
			t.Errorf("endpoint %d first %d times, want %d", i, total, k)
		}
	}
}

func TestRoundRobinDoesNotAllocate(t *testing.T) {
	o := roundRobin{}.Compile(make([]uint32, 8))
	var st State
	buf := make([]int, 0, 8)
	if a := testing.AllocsPerRun(100, func() { o.Order(buf[:0], st.Next(), 0) }); a != 0 {
		t.Fatalf("%v allocations per order", a)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

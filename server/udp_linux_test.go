package server

import (
	"testing"
	"time"
)

// A read loop yields its P every few milliseconds while it is busy, and
// never right after waiting for a query.
func TestReadLoopYields(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		// at is the clock after each batch; want is whether the loop
		// yields after it.
		at   []time.Duration
		want []bool
	}{
		{"a busy loop yields every yieldEvery",
			[]time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms, 6 * ms, 7 * ms, 8 * ms, 9 * ms, 10 * ms, 11 * ms},
			[]bool{false, false, false, false, true, false, false, false, false, true, false}},
		{"a batch after a wait of yieldEvery or more never yields",
			[]time.Duration{20 * ms, 40 * ms, 45 * ms, 60 * ms},
			[]bool{false, false, false, false}},
		{"after a wait, the next batch that comes soon yields",
			[]time.Duration{20 * ms, 21 * ms, 22 * ms},
			[]bool{false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Duration
			y := yielder{elapsed: func() time.Duration { return now }}
			for i, at := range tt.at {
				now = at
				if got := y.due(); got != tt.want[i] {
					t.Errorf("batch %d at %v: yield %v, want %v", i+1, at, got, tt.want[i])
				}
			}
		})
	}
}

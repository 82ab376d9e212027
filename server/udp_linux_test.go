package server

import (
	"testing"
	"time"
)

// A read loop yields its P when it has been busy for a while, and only then.
func TestReadLoopYields(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		// at is the clock after each batch; want is whether the loop
		// yields after it.
		at   []time.Duration
		want []bool
	}{
		{"a busy loop yields once yieldEvery has passed",
			[]time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms, 6 * ms},
			[]bool{false, false, false, false, true, false}},
		{"after a yield, the next waits for yieldEvery again",
			[]time.Duration{5 * ms, 5 * ms, 5 * ms, 5 * ms, 6 * ms, 7 * ms, 8 * ms, 9 * ms, 10 * ms},
			[]bool{false, false, false, true, false, false, false, false, true}},
		{"a trickle of batches yields only every yieldBatches of them",
			[]time.Duration{20 * ms, 40 * ms, 60 * ms, 80 * ms, 100 * ms, 120 * ms, 140 * ms, 160 * ms},
			[]bool{false, false, false, true, false, false, false, true}},
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

package scheduler

import "testing"

func TestGroupedAnswersFirstGroupFirstAndRotatesBoth(t *testing.T) {
	local := Group{Indices: []int{3, 1}, Orderer: roundRobin{}.Compile(make([]uint32, 2))}
	remote := Group{Indices: []int{0, 2, 4}, Orderer: roundRobin{}.Compile(make([]uint32, 3))}
	o := Grouped(local, remote)
	tests := []struct {
		name  string
		pos   uint64
		limit int
		want  []int
	}{
		{"position 0 starts both groups at their first", 0, 0, []int{3, 1, 0, 2, 4}},
		{"position 1 rotates both groups", 1, 0, []int{1, 3, 2, 4, 0}},
		{"limit inside the first group", 2, 1, []int{3}},
		{"limit reaching into the second group", 2, 3, []int{3, 1, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := o.Order(nil, tc.pos, tc.limit); !equal(got, tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
		})
	}
}

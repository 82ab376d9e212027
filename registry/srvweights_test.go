package registry

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

func TestSRVWeightFieldsAreTheWeightsTheSchedulerUses(t *testing.T) {
	tests := []struct {
		name          string
		serviceWeight string
		nodeWeights   map[string]string // node → its swarmdns.weight
		taskNodes     []string          // the node of each task
		localNode     string            // with --prefer-local
		want          []string          // sorted "priority weight" of each record
	}{
		{"weights with a common divisor are divided by it", "2", map[string]string{"a": "1", "b": "3"}, []string{"a", "b"}, "",
			[]string{"0 1", "0 3"}},
		{"coprime weights are the weights", "1", map[string]string{"a": "1", "b": "3"}, []string{"a", "b", "b"}, "",
			[]string{"0 1", "0 3", "0 3"}},
		{"a product over 65535 keeps its proportion instead of being cut", "300", map[string]string{"a": "300", "b": "100"}, []string{"a", "b"}, "",
			[]string{"0 1", "0 3"}},
		{"each priority is reduced on its own", "1", map[string]string{"here": "2", "a": "3", "b": "6"}, []string{"here", "here", "a", "b"}, "here",
			[]string{"0 1", "0 1", "1 1", "1 2"}},
		{"a drained task leaves the answer", "2", map[string]string{"a": "0", "b": "2"}, []string{"a", "b"}, "",
			[]string{"0 1"}},
		{"when every weight is 0 each record gets 1, answered equally", "1", map[string]string{"a": "0"}, []string{"a", "a"}, "",
			[]string{"0 1", "0 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := Service{ID: "s", Name: "svc", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}},
				Labels: map[string]string{LabelWeight: tt.serviceWeight},
				Ports:  []Port{{Name: "http", Protocol: "tcp", Target: 80}}}
			var tasks []Task
			for i, node := range tt.taskNodes {
				tasks = append(tasks, Task{ID: fmt.Sprint("t", i), ServiceID: "s", Slot: i + 1, NodeID: node, State: TaskRunning,
					Addresses: addrs(fmt.Sprintf("10.1.0.%d", i+1))})
			}
			var nodes []Node
			for _, id := range slices.Sorted(maps.Keys(tt.nodeWeights)) {
				nodes = append(nodes, Node{ID: id, Hostname: id, Labels: map[string]string{LabelWeight: tt.nodeWeights[id]}})
			}
			d := data([]Service{svc}, tasks, nodes...)
			d.LocalNode = tt.localNode
			s := build(t, d, Config{PreferLocal: tt.localNode != ""}, nil)
			v := lookup(s, "_http._tcp.svc")
			if v == nil {
				t.Fatal("_http._tcp.svc not found")
			}
			var got []string
			for _, r := range records(t, v.SRV, nil) {
				var prio, weight, port int
				var target string
				if _, err := fmt.Sscan(r, &prio, &weight, &port, &target); err != nil {
					t.Fatalf("SRV %q: %v", r, err)
				}
				got = append(got, fmt.Sprint(prio, " ", weight))
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("SRV priority and weight %q, want %q", got, tt.want)
			}
		})
	}
}

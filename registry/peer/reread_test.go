package peer

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/swarmdns/swarmdns/registry"
)

func TestAFollowerNamesTheServicesOfItsTaskContainersThatWentAway(t *testing.T) {
	addr := netip.MustParseAddr
	task := func(id, svc, node, state, ip string) registry.Task {
		t := registry.Task{ID: id, ServiceID: svc, NodeID: node, State: state}
		t.AddAddrs("net", addr(ip))
		return t
	}
	h := &held{cluster: cluster{tasks: []registry.Task{
		task("t1", "web", "here", registry.TaskRunning, "10.0.0.1"),
		task("t2", "api", "here", registry.TaskRunning, "10.0.0.2"),
		task("t3", "db", "there", registry.TaskRunning, "10.0.0.3"),
		task("t4", "old", "here", "shutdown", "10.0.0.4"),
	}}}
	c := func(id, ip string) registry.Container {
		return registry.Container{ID: id, Addresses: []netip.Addr{addr(ip)}, Networks: []string{"net"}}
	}
	both := LocalState{NodeID: "here", Containers: []registry.Container{c("c1", "10.0.0.1"), c("c2", "10.0.0.2")}}
	tests := []struct {
		name     string
		old, cur LocalState
		want     []string
	}{
		{"a task container gone names its service", both, LocalState{NodeID: "here", Containers: []registry.Container{c("c2", "10.0.0.2")}}, []string{"web"}},
		{"every container gone names every service of this node", both, LocalState{NodeID: "here"}, []string{"web", "api"}},
		{"a container that started names nothing", LocalState{NodeID: "here", Containers: []registry.Container{c("c2", "10.0.0.2")}}, both, nil},
		{"the same containers name nothing", both, both, nil},
		{"the first state names nothing", LocalState{}, both, nil},
		{"a container with no task of this node names nothing", LocalState{NodeID: "here", Containers: []registry.Container{c("c9", "10.0.0.3"), c("c8", "10.0.0.4")}}, LocalState{NodeID: "here"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.gone(tt.old, tt.cur)
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("gone = %v, want %v", got, want)
			}
		})
	}
}

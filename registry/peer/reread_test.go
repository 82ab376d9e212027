package peer

import (
	"net/netip"
	"slices"
	"testing"
	"time"

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
			h.died = nil
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

func TestATaskWhoseContainerDiedHereIsNotAnsweredUntilTheManagerSaysSo(t *testing.T) {
	task := registry.Task{ID: "t1", ServiceID: "web", NodeID: "here", State: registry.TaskRunning}
	task.AddAddrs("net", netip.MustParseAddr("10.0.0.1"))
	other := registry.Task{ID: "t2", ServiceID: "web", NodeID: "there", State: registry.TaskRunning}
	other.AddAddrs("net", netip.MustParseAddr("10.0.0.1")) // the same address on another node stays
	h := &held{cluster: cluster{tasks: []registry.Task{task, other}}}
	c := registry.Container{ID: "c1", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, Networks: []string{"net"}}
	old := LocalState{NodeID: "here", Containers: []registry.Container{c}}
	cur := LocalState{NodeID: "here"}
	now := time.Now()
	h.goneAt(old, cur, now)
	h.local = cur
	states := func(d *registry.Data) []string {
		var out []string
		for _, t := range d.Tasks {
			out = append(out, t.ID+"="+t.State)
		}
		return out
	}
	if got := states(h.data(now)); !slices.Equal(got, []string{"t1=shutdown", "t2=running"}) {
		t.Fatalf("after the die: %v, want t1 shut down and t2 running", got)
	}
	if h.cluster.tasks[0].State != registry.TaskRunning {
		t.Fatal("the manager's cluster data was modified")
	}
	if got := states(h.data(now.Add(diedFor + time.Second))); !slices.Equal(got, []string{"t1=shutdown", "t2=running"}) || len(h.died) != 0 {
		t.Fatalf("at the limit: %v with %d died addresses, want the die applied once more and then forgotten", got, len(h.died))
	}
	if got := states(h.data(now.Add(diedFor + 2*time.Second))); !slices.Equal(got, []string{"t1=running", "t2=running"}) {
		t.Fatalf("past the limit: %v, want the manager's word again", got)
	}
	h.goneAt(old, cur, now)
	h.cluster.tasks = []registry.Task{{ID: "t1", ServiceID: "web", NodeID: "here", State: "failed"}, other}
	if got := states(h.data(now)); !slices.Equal(got, []string{"t1=failed", "t2=running"}) || len(h.died) != 0 {
		t.Fatalf("once the manager says so: %v with %d died addresses, want its word and nothing held", got, len(h.died))
	}
}

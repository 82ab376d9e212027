package peer

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/registrytest"
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
			got, _ := h.gone(tt.old, tt.cur)
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

func TestAFollowerNamesTheServicesOfTaskContainersThatStarted(t *testing.T) {
	c := func(id, svc string) registry.Container {
		return registry.Container{ID: id, ServiceID: svc, Networks: []string{"net"}}
	}
	listed := func(cs ...registry.Container) LocalState {
		return LocalState{NodeID: "here", Containers: cs, Listed: true}
	}
	tests := []struct {
		name     string
		old, cur LocalState
		want     []string
	}{
		{"a task container new in the listing names its service", listed(c("c1", "web")), listed(c("c1", "web"), c("c2", "api")), []string{"api"}},
		{"the first task container of a node with none names its service", listed(), listed(c("c1", "web")), []string{"web"}},
		{"two of one service name it once", listed(), listed(c("c1", "web"), c("c2", "web")), []string{"web"}},
		{"a container of no task names nothing", listed(), listed(c("c1", "")), nil},
		{"a container gone names nothing", listed(c("c1", "web")), listed(), nil},
		{"the first listing names nothing: those containers ran before", LocalState{NodeID: "here"}, listed(c("c1", "web")), nil},
		{"the same containers name nothing", listed(c("c1", "web")), listed(c("c1", "web")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := started(tt.old, tt.cur)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("started = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAFollowerAnswersItsOwnTaskOnceItsContainerRuns(t *testing.T) {
	task := func(id, node, state string) registry.Task {
		return registry.Task{ID: id, ServiceID: "web", NodeID: node, State: state}
	}
	ctr := func(task string, unhealthy bool) registry.Container {
		return registry.Container{ID: "c-" + task, TaskID: task, ServiceID: "web", Networks: []string{"net"}, Unhealthy: unhealthy}
	}
	tests := []struct {
		name       string
		task       registry.Task
		containers []registry.Container
		want       string
	}{
		{"starting here with its container running: running", task("t1", "here", "starting"), []registry.Container{ctr("t1", false)}, registry.TaskRunning},
		{"assigned here with its container running: running", task("t1", "here", "assigned"), []registry.Container{ctr("t1", false)}, registry.TaskRunning},
		{"its container not healthy yet: as the manager says", task("t1", "here", "starting"), []registry.Container{ctr("t1", true)}, "starting"},
		{"no container of it here: as the manager says", task("t1", "here", "starting"), []registry.Container{ctr("t9", false)}, "starting"},
		{"another node's task: as the manager says", task("t1", "there", "starting"), []registry.Container{ctr("t1", false)}, "starting"},
		{"failed stays failed", task("t1", "here", "failed"), []registry.Container{ctr("t1", false)}, "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &held{cluster: cluster{tasks: []registry.Task{tt.task}}, local: LocalState{NodeID: "here", Containers: tt.containers, Listed: true}}
			d := h.data(time.Now())
			if got := d.Tasks[0].State; got != tt.want {
				t.Errorf("state %q, want %q", got, tt.want)
			}
			if h.cluster.tasks[0].State != tt.task.State {
				t.Error("the manager's cluster data was modified")
			}
		})
	}
}

func TestAFollowerAsksItsManagerToRereadAServiceWhoseTaskStartedHere(t *testing.T) {
	creds, _ := newSwarm(t).node("swarm-worker", "here")
	f, err := NewFollower(FollowerConfig{Managers: []string{"manager:1"}, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	h := &held{}
	sink := registrytest.UpdateFunc(func(*registry.Data) {})
	f.localChanged(h, LocalState{NodeID: "here", Listed: true}, sink)
	f.localChanged(h, LocalState{NodeID: "here", Listed: true, Containers: []registry.Container{{ID: "c1", ServiceID: "web", Networks: []string{"net"}}}}, sink)
	select {
	case m := <-f.hints:
		if got := m.GetReread().GetServiceIds(); !slices.Equal(got, []string{"web"}) {
			t.Errorf("reread of %v, want web", got)
		}
	default:
		t.Fatal("no reread hint queued for the manager")
	}
	if len(f.hints) != 0 {
		t.Errorf("%d more hints queued, want none", len(f.hints))
	}
}

func TestAFollowerTellsItsManagerWhichOfItsTasksDied(t *testing.T) {
	creds, _ := newSwarm(t).node("swarm-worker", "here")
	f, err := NewFollower(FollowerConfig{Managers: []string{"manager:1"}, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	tk := registry.Task{ID: "t1", ServiceID: "web", NodeID: "here", State: registry.TaskRunning}
	tk.AddAddrs("net", netip.MustParseAddr("10.0.0.1"))
	h := &held{cluster: cluster{tasks: []registry.Task{tk}}}
	c := registry.Container{ID: "c1", TaskID: "t1", ServiceID: "web", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, Networks: []string{"net"}}
	sink := registrytest.UpdateFunc(func(*registry.Data) {})
	f.localChanged(h, LocalState{NodeID: "here", Listed: true, Containers: []registry.Container{c}}, sink)
	f.localChanged(h, LocalState{NodeID: "here", Listed: true}, sink)
	select {
	case m := <-f.hints:
		r := m.GetReread()
		if !slices.Equal(r.GetServiceIds(), []string{"web"}) || !slices.Equal(r.GetDiedTaskIds(), []string{"t1"}) {
			t.Errorf("reread of services %v, died tasks %v; want web and t1", r.GetServiceIds(), r.GetDiedTaskIds())
		}
	default:
		t.Fatal("no reread hint queued for the manager")
	}
}

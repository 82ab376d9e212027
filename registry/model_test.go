package registry

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

// byNetwork returns a task's Addresses holding m, as AddAddrs builds them.
func byNetwork(m map[string][]netip.Addr) []NetworkAddrs {
	var t Task
	for _, id := range slices.Sorted(maps.Keys(m)) {
		t.AddAddrs(id, m[id]...)
	}
	return t.Addresses
}

// vips returns a service's VirtualIPs holding m, as SetVIP builds them.
func vips(m map[string]netip.Addr) []VirtualIP {
	var s Service
	for id, a := range m {
		s.SetVIP(id, a)
	}
	return s.VirtualIPs
}

func TestTaskAddresses(t *testing.T) {
	a1, a2, a3 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::3")
	tests := []struct {
		name   string
		add    func(*Task)
		on     map[string][]netip.Addr
		others []string
	}{
		{"a task with no addresses is on no network",
			func(*Task) {}, nil, []string{"n1"}},
		{"adding no addresses adds no network",
			func(t *Task) { t.AddAddrs("n1") }, nil, []string{"n1"}},
		{"addresses on one network",
			func(t *Task) { t.AddAddrs("n1", a1, a3) }, map[string][]netip.Addr{"n1": {a1, a3}}, []string{"n0", "n2"}},
		{"networks are kept sorted whatever the order they come in",
			func(t *Task) { t.AddAddrs("n3", a3); t.AddAddrs("n1", a1); t.AddAddrs("n2", a2) },
			map[string][]netip.Addr{"n1": {a1}, "n2": {a2}, "n3": {a3}}, []string{"n0", "n11", "n4"}},
		{"a network added again gets the addresses appended, in order",
			func(t *Task) { t.AddAddrs("n2", a2); t.AddAddrs("n1", a3); t.AddAddrs("n2", a1) },
			map[string][]netip.Addr{"n1": {a3}, "n2": {a2, a1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var task Task
			tt.add(&task)
			for id, want := range tt.on {
				if got := task.AddrsOn(id); !slices.Equal(got, want) {
					t.Errorf("AddrsOn(%s) = %v, want %v", id, got, want)
				}
			}
			for _, id := range tt.others {
				if got := task.AddrsOn(id); got != nil {
					t.Errorf("AddrsOn(%s) = %v, want nil", id, got)
				}
			}
			want := append([]string{"x"}, slices.Sorted(maps.Keys(tt.on))...)
			if got := task.NetworkIDs([]string{"x"}); !slices.Equal(got, want) {
				t.Errorf("NetworkIDs = %v, want %v", got, want)
			}
		})
	}
}

func TestTaskAddAddrsCopiesItsArgument(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	var task Task
	task.AddAddrs("n1", addrs...)
	addrs[0] = netip.MustParseAddr("10.9.9.9")
	if got := task.AddrsOn("n1"); got[0] != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("AddrsOn = %v after the caller reused its slice", got)
	}
}

func TestServiceVIPs(t *testing.T) {
	v1, v2, v3 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::3")
	tests := []struct {
		name   string
		set    func(*Service)
		want   []VirtualIP
		others []string
	}{
		{"a service with no VIP has none on any network",
			func(*Service) {}, nil, []string{"n1"}},
		{"VIPs are kept sorted by network whatever the order they come in",
			func(s *Service) { s.SetVIP("n3", v3); s.SetVIP("n1", v1); s.SetVIP("n2", v2) },
			[]VirtualIP{{"n1", v1}, {"n2", v2}, {"n3", v3}}, []string{"n0", "n11", "n4"}},
		{"setting a network's VIP again replaces it",
			func(s *Service) { s.SetVIP("n1", v1); s.SetVIP("n2", v2); s.SetVIP("n1", v3) },
			[]VirtualIP{{"n1", v3}, {"n2", v2}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var svc Service
			tt.set(&svc)
			if !reflect.DeepEqual(svc.VirtualIPs, tt.want) {
				t.Errorf("VirtualIPs = %v, want %v", svc.VirtualIPs, tt.want)
			}
			wantIDs := []string{"x"}
			for _, v := range tt.want {
				if got, ok := svc.VIPOn(v.Network); !ok || got != v.Addr {
					t.Errorf("VIPOn(%s) = %v, %v; want %v, true", v.Network, got, ok, v.Addr)
				}
				wantIDs = append(wantIDs, v.Network)
			}
			for _, id := range tt.others {
				if got, ok := svc.VIPOn(id); ok || got.IsValid() {
					t.Errorf("VIPOn(%s) = %v, %v; want none", id, got, ok)
				}
			}
			if got := svc.VIPNetworkIDs([]string{"x"}); !slices.Equal(got, wantIDs) {
				t.Errorf("VIPNetworkIDs = %v, want %v", got, wantIDs)
			}
		})
	}
}

func TestPackAddrs(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	tasks := []Task{
		{ID: "t1", Addresses: byNetwork(map[string][]netip.Addr{"n1": {a("10.0.0.1"), a("10.0.0.2")}, "n2": {a("fd00::1")}})},
		{ID: "t2"},
		{ID: "t3", Addresses: byNetwork(map[string][]netip.Addr{"n1": {a("10.0.0.3")}})},
	}
	want := make([]Task, len(tasks))
	for i, tk := range tasks {
		want[i] = tk
		want[i].Addresses = nil
		for _, na := range tk.Addresses {
			want[i].AddAddrs(na.Network, na.Addrs...)
		}
	}
	packAddrs(tasks)
	if !reflect.DeepEqual(tasks, want) {
		t.Fatalf("packed %+v, want %+v", tasks, want)
	}
	for _, tk := range tasks {
		for _, na := range tk.Addresses {
			if cap(tk.Addresses) != len(tk.Addresses) || cap(na.Addrs) != len(na.Addrs) {
				t.Fatalf("task %s: slices not capped at their length", tk.ID)
			}
		}
	}
	if n := testing.AllocsPerRun(10, func() { packAddrs(tasks) }); n != 2 {
		t.Fatalf("packing allocates %v times, want 2 (one array for networks, one for addresses)", n)
	}
	// Appending to one task's addresses must not touch the next task's.
	tasks[0].AddAddrs("n2", a("fd00::2"))
	tasks[0].AddAddrs("n3", a("fd00::3"))
	if got := tasks[2].AddrsOn("n1"); !slices.Equal(got, []netip.Addr{a("10.0.0.3")}) {
		t.Fatalf("t3 on n1 = %v after t1 grew", got)
	}
}

func TestRunningTasksCountsOnlyRunningTasks(t *testing.T) {
	tests := []struct {
		name   string
		states []string
		want   int
	}{
		{"no tasks", nil, 0},
		{"every running task counts", []string{TaskRunning, TaskRunning}, 2},
		{"a task that is starting, shut down or failed does not", []string{TaskRunning, "starting", "shutdown", "failed", TaskRunning}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Data{}
			for i, st := range tt.states {
				d.Tasks = append(d.Tasks, Task{ID: fmt.Sprint("t", i), ServiceID: "nosuchservice", State: st})
			}
			if got := d.RunningTasks(); got != tt.want {
				t.Errorf("RunningTasks = %d, want %d", got, tt.want)
			}
			cfg := Config{Domain: "swarm.internal.", TTL: 5}
			if err := cfg.Check(); err != nil {
				t.Fatal(err)
			}
			s, _ := Build(d, cfg, nil)
			if got := s.Stats().Tasks; got != tt.want {
				t.Errorf("Stats().Tasks = %d, want RunningTasks's %d", got, tt.want)
			}
		})
	}
}

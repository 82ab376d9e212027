package swarm

import (
	"net/http"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/swarmdns/swarmdns/registry"
)

func TestWithLocalTasks(t *testing.T) {
	synced := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	after, before := synced.Add(time.Millisecond), synced.Add(-time.Millisecond)
	base := func(tasks ...registry.Task) *registry.Data {
		return &registry.Data{
			LocalNode: "node-local",
			Networks: []registry.Network{
				{ID: ingressID, Name: "ingress", Ingress: true},
				{ID: appnetID, Name: "appnet"},
			},
			Services: []registry.Service{
				{ID: "svc-glob", Name: "glob", Global: true},
				{ID: "svc-web", Name: "web"},
			},
			Tasks: tasks,
		}
	}
	onAppnet := func(a string) []registry.NetworkAddrs { return byNetwork(map[string][]netip.Addr{appnetID: {ip(a)}}) }
	webTask := func(id, state string, slot int, addr string) registry.Task {
		t := registry.Task{ID: id, ServiceID: "svc-web", Slot: slot, NodeID: "node-local", State: state}
		if addr != "" {
			t.Addresses = onAppnet(addr)
		}
		return t
	}
	started := func(at time.Time, tk registry.Task) map[string]startedTask {
		return map[string]startedTask{"c-" + tk.ID: {task: tk, container: "c-" + tk.ID, at: at}}
	}
	died := func(task string) map[string]diedContainer {
		return map[string]diedContainer{"c-" + task: {task: task, at: after}}
	}
	tests := []struct {
		name    string
		in      *registry.Data
		died    map[string]diedContainer
		started map[string]startedTask
		want    *registry.Data
	}{
		{"nothing known leaves the data as it is",
			base(webTask("task-1", registry.TaskRunning, 1, "10.0.1.11")), nil, nil,
			base(webTask("task-1", registry.TaskRunning, 1, "10.0.1.11"))},
		{"a running task whose container died is stopped",
			base(webTask("task-1", registry.TaskRunning, 1, "10.0.1.11"), webTask("task-2", registry.TaskRunning, 2, "10.0.1.12")), died("task-1"), nil,
			base(webTask("task-1", TaskContainerStopped, 1, "10.0.1.11"), webTask("task-2", registry.TaskRunning, 2, "10.0.1.12"))},
		{"a died container of a task not running yet changes nothing",
			base(webTask("task-1", "starting", 1, "10.0.1.11")), died("task-1"), nil,
			base(webTask("task-1", "starting", 1, "10.0.1.11"))},
		{"a started container makes its starting task running",
			base(webTask("task-1", "starting", 1, "10.0.1.11")), nil, started(before, webTask("task-1", registry.TaskRunning, 0, "10.0.1.11")),
			base(webTask("task-1", registry.TaskRunning, 1, "10.0.1.11"))},
		{"a started container gives its addresses to a task the manager listed without any",
			base(webTask("task-1", "assigned", 1, "")), nil, started(before, webTask("task-1", registry.TaskRunning, 1, "10.0.1.11")),
			base(webTask("task-1", registry.TaskRunning, 1, "10.0.1.11"))},
		{"a started container does not overrule a task the manager reports failed",
			base(webTask("task-1", "failed", 1, "10.0.1.11")), nil, started(after, webTask("task-1", registry.TaskRunning, 1, "10.0.1.11")),
			base(webTask("task-1", "failed", 1, "10.0.1.11"))},
		{"a task started after the sync joins its service before the manager lists it",
			base(webTask("task-1", registry.TaskRunning, 1, "10.0.1.11")), nil, started(after, webTask("task-0", registry.TaskRunning, 2, "10.0.1.12")),
			base(webTask("task-0", registry.TaskRunning, 2, "10.0.1.12"), webTask("task-1", registry.TaskRunning, 1, "10.0.1.11"))},
		{"a task started before the sync that the manager did not list stays out",
			base(webTask("task-1", registry.TaskRunning, 1, "10.0.1.11")), nil, started(before, webTask("task-2", registry.TaskRunning, 2, "10.0.1.12")),
			base(webTask("task-1", registry.TaskRunning, 1, "10.0.1.11"))},
		{"a started task of a service the manager did not list stays out",
			base(), nil, started(after, registry.Task{ID: "task-9", ServiceID: "svc-new", State: registry.TaskRunning, Addresses: onAppnet("10.0.1.19")}),
			base()},
		{"a started task of a global service has slot 0 and the local node",
			base(), nil, started(after, registry.Task{ID: "task-g", ServiceID: "svc-glob", Slot: 7, State: registry.TaskRunning, Addresses: onAppnet("10.0.1.20")}),
			base(registry.Task{ID: "task-g", ServiceID: "svc-glob", NodeID: "node-local", State: registry.TaskRunning, Addresses: onAppnet("10.0.1.20")})},
		{"a started container's addresses on ingress and local networks are not the task's",
			base(), nil, started(after, registry.Task{ID: "task-3", ServiceID: "svc-web", Slot: 3, NodeID: "node-local", State: registry.TaskRunning,
				Addresses: byNetwork(map[string][]netip.Addr{appnetID: {ip("10.0.1.13")}, ingressID: {ip("10.0.0.13")}, gwbridge: {ip("172.18.0.3")}})}),
			base(webTask("task-3", registry.TaskRunning, 3, "10.0.1.13"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := base(append([]registry.Task(nil), tt.in.Tasks...)...)
			got := withLocalTasks(tt.in, tt.died, tt.started, func(string) time.Time { return synced })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got tasks %+v\nwant %+v", got.Tasks, tt.want.Tasks)
			}
			if !reflect.DeepEqual(tt.in, orig) {
				t.Errorf("the input was modified: %+v", tt.in.Tasks)
			}
			if reflect.DeepEqual(tt.in, tt.want) && got != tt.in {
				t.Error("unchanged data was copied")
			}
		})
	}
}

func TestSlotOf(t *testing.T) {
	tests := []struct {
		name, taskName, task string
		want                 int
	}{
		{"replicated task name carries the slot", "web.3.k2x9", "k2x9", 3},
		{"global task name carries the node ID", "glob.m5s1d0p7qqii.k2x9", "k2x9", 0},
		{"a name of another task gives no slot", "web.3.other", "k2x9", 0},
		{"a missing name gives no slot", "", "k2x9", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slotOf(tt.taskName, tt.task); got != tt.want {
				t.Errorf("slotOf(%q, %q) = %d, want %d", tt.taskName, tt.task, got, tt.want)
			}
		})
	}
}

// taskContainer is how the engine shows a running task container.
func taskContainer(id, task, service, taskName, appnetAddr string, health string) container.InspectResponse {
	st := &container.State{Running: true, Status: "running"}
	if health != "" {
		st.Health = &container.Health{Status: health}
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: st},
		Config: &container.Config{Labels: map[string]string{
			labelTaskID: task, labelServiceID: service, labelTaskName: taskName, labelNodeID: "node-local",
		}},
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{
			"appnet": {NetworkID: appnetID, IPAddress: appnetAddr},
		}},
	}
}

func taskEvent(action events.Action, container, task string) events.Message {
	return events.Message{Type: events.ContainerEventType, Action: action, Scope: "local",
		Actor: events.Actor{ID: container, Attributes: map[string]string{labelTaskID: task}}}
}

// TestSwarmSourceLocalContainerEventsNeedNoFullSync runs with the manager's
// task list failing after the first sync: whatever is published after the
// event came from the event alone.
func TestSwarmSourceLocalContainerEventsNeedNoFullSync(t *testing.T) {
	running := func(id string, slot int, addr string) swarmtypes.Task {
		return withContainer(task(id, "svc-web", slot, swarmtypes.TaskStateRunning, swarmtypes.TaskStateRunning,
			attached(appnetID, false, addr+"/24")), "c-"+id)
	}
	starting := func(id string, slot int, addr string) swarmtypes.Task {
		return withContainer(task(id, "svc-web", slot, swarmtypes.TaskStateRunning, swarmtypes.TaskStateStarting,
			attached(appnetID, false, addr+"/24")), "c-"+id)
	}
	tests := []struct {
		name    string
		tasks   []swarmtypes.Task
		inspect map[string]container.InspectResponse
		event   events.Message
		// want is each task's state after the event; nil: no update.
		want map[string]string
	}{
		{"a die event alone, the manager unreadable, keeps the last good data (dockerd stopping kills every container)",
			[]swarmtypes.Task{running("task-1", 1, "10.0.1.11"), running("task-2", 2, "10.0.1.12")}, nil,
			taskEvent(events.ActionDie, "c-task-1", "task-1"), nil},
		{"a start event makes the starting task running after one inspect",
			[]swarmtypes.Task{running("task-1", 1, "10.0.1.11"), starting("task-2", 2, "10.0.1.12")},
			map[string]container.InspectResponse{"c-task-2": taskContainer("c-task-2", "task-2", "svc-web", "web.2.task-2", "10.0.1.12", "")},
			taskEvent(events.ActionStart, "c-task-2", "task-2"),
			map[string]string{"task-1": registry.TaskRunning, "task-2": registry.TaskRunning}},
		{"a start event of a task the manager has not listed yet adds it",
			[]swarmtypes.Task{running("task-1", 1, "10.0.1.11")},
			map[string]container.InspectResponse{"c-task-2": taskContainer("c-task-2", "task-2", "svc-web", "web.2.task-2", "10.0.1.12", "")},
			taskEvent(events.ActionStart, "c-task-2", "task-2"),
			map[string]string{"task-1": registry.TaskRunning, "task-2": registry.TaskRunning}},
		{"a healthy status makes the starting task running",
			[]swarmtypes.Task{starting("task-2", 2, "10.0.1.12")},
			map[string]container.InspectResponse{"c-task-2": taskContainer("c-task-2", "task-2", "svc-web", "web.2.task-2", "10.0.1.12", container.Healthy)},
			taskEvent(events.ActionHealthStatusHealthy, "c-task-2", "task-2"),
			map[string]string{"task-2": registry.TaskRunning}},
		{"a start event of a container still checking its health publishes nothing",
			[]swarmtypes.Task{starting("task-2", 2, "10.0.1.12")},
			map[string]container.InspectResponse{"c-task-2": taskContainer("c-task-2", "task-2", "svc-web", "web.2.task-2", "10.0.1.12", container.Starting)},
			taskEvent(events.ActionStart, "c-task-2", "task-2"), nil},
		{"a start event whose inspect fails publishes nothing",
			[]swarmtypes.Task{starting("task-2", 2, "10.0.1.12")}, nil,
			taskEvent(events.ActionStart, "c-task-2", "task-2"), nil},
		{"a start event of a container that is no task publishes nothing",
			[]swarmtypes.Task{starting("task-2", 2, "10.0.1.12")},
			map[string]container.InspectResponse{"c-task-2": taskContainer("c-task-2", "task-2", "svc-web", "web.2.task-2", "10.0.1.12", "")},
			taskEvent(events.ActionStart, "c-task-2", ""), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			f.set(func(f *fakeEngine) {
				f.networks = fixtureNetworks()
				f.services = []swarmtypes.Service{withNetworks(replicated("svc-web", "web"), swarmtypes.NetworkAttachmentConfig{Target: appnetID})}
				f.tasks = tt.tasks
				for _, tk := range tt.tasks {
					f.containers = append(f.containers, container.Summary{ID: tk.Status.ContainerStatus.ContainerID, State: "running"})
				}
			})
			rs := startSource(t, f, time.Hour)
			rs.next(t, 5*time.Second)
			waitFor(t, func() bool { return f.subscribers() > 0 })
			f.failPath("/tasks", http.StatusInternalServerError, "manager is slow")
			f.set(func(f *fakeEngine) { f.inspect = tt.inspect })

			f.emit(tt.event)
			if tt.want == nil {
				rs.none(t, 300*time.Millisecond)
				return
			}
			d := rs.next(t, time.Second)
			got := map[string]string{}
			for _, tk := range d.Tasks {
				got[tk.ID] = tk.State
				if len(tk.AddrsOn(appnetID)) != 1 {
					t.Errorf("task %s addresses %v, want one on appnet", tk.ID, tk.Addresses)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("task states %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSwarmSourceManagerWinsAtTheNextFullSync(t *testing.T) {
	f := newFakeEngine(t)
	smallCluster(f, 1)
	f.set(func(f *fakeEngine) {
		f.inspect = map[string]container.InspectResponse{"c-9": taskContainer("c-9", "task-9", "svc-web", "web.9.task-9", "10.0.1.19", "")}
	})
	rs := startSource(t, f, time.Hour)
	rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })

	// The manager is slow: the start event alone publishes task-9.
	f.failPath("/tasks", http.StatusInternalServerError, "manager is slow")
	f.emit(taskEvent(events.ActionStart, "c-9", "task-9"))
	if d := rs.next(t, time.Second); len(d.Tasks) != 2 {
		t.Fatalf("after the start event: %+v, want task-1 and task-9", d.Tasks)
	}
	// The manager answers again and never lists task-9 (it was shut down).
	f.heal()
	if d := rs.next(t, 2*time.Second); len(d.Tasks) != 1 || d.Tasks[0].ID != "task-1" {
		t.Errorf("after the manager answered: %+v, want only task-1", d.Tasks)
	}
	rs.none(t, 300*time.Millisecond)
}

func TestSwarmSourceLocalChangeDoesNotWaitForASyncUnderWay(t *testing.T) {
	f := newFakeEngine(t)
	f.oneTask(swarmtypes.TaskStateStarting)
	rs := startSource(t, f, time.Hour)
	if d := rs.next(t, 5*time.Second); d.Tasks[0].State == registry.TaskRunning {
		t.Fatalf("before the start event: %+v", d.Tasks)
	}
	waitFor(t, func() bool { return f.subscribers() > 0 })

	// A sync begins and hangs on a slow manager; the container then starts.
	f.set(func(f *fakeEngine) {
		f.delay = map[string]time.Duration{"/tasks": 2 * time.Second}
		f.inspect = map[string]container.InspectResponse{"c1": taskContainer("c1", "task-1", "svc-web", "web.1.task-1", "10.0.1.11", "")}
	})
	f.emit(events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate, Scope: "swarm"})
	waitFor(t, func() bool { return f.count("GET /tasks") == 2 })
	start := time.Now()
	f.emit(taskEvent(events.ActionStart, "c1", "task-1"))
	d := rs.next(t, time.Second)
	if d.Tasks[0].State != registry.TaskRunning {
		t.Errorf("after the start event: %+v, want task-1 %s", d.Tasks, registry.TaskRunning)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("the start was published after %v, behind the sync under way", took)
	}
}

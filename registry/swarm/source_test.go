package swarm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/registrytest"
)

// runningSource runs a Source against a fake engine and collects what
// it delivers.
type runningSource struct {
	src     *Source
	updates chan *registry.Data
	done    chan error
	logs    *logtest.Hook
	cancel  context.CancelFunc
}

func startSource(t *testing.T, f *fakeEngine, poll time.Duration) *runningSource {
	t.Helper()
	return startSourceWith(t, f, Config{PollInterval: poll})
}

// startSourceWith runs a Source with cfg (its DockerHost, Debounce and
// Logger set here) against f, adjusted by adjust before it runs.
func startSourceWith(t *testing.T, f *fakeEngine, cfg Config, adjust ...func(*Source)) *runningSource {
	t.Helper()
	// The fake is the only engine these tests may reach.
	for _, env := range []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION", "DOCKER_CONTEXT"} {
		t.Setenv(env, "")
	}
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	cfg.DockerHost, cfg.Debounce, cfg.Logger = f.host(), 10*time.Millisecond, logrus.NewEntry(logger)
	src, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range adjust {
		a(src)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningSource{src: src, updates: make(chan *registry.Data, 100), done: make(chan error, 1), logs: hook, cancel: cancel}
	go func() { rs.done <- src.Run(ctx, registrytest.UpdateFunc(func(d *registry.Data) { rs.updates <- d })) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rs.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return rs
}

func (rs *runningSource) next(t *testing.T, within time.Duration) *registry.Data {
	t.Helper()
	select {
	case d := <-rs.updates:
		return d
	case err := <-rs.done:
		t.Fatalf("Run returned %v before an update", err)
	case <-time.After(within):
		t.Fatalf("no update within %v", within)
	}
	return nil
}

func (rs *runningSource) none(t *testing.T, during time.Duration) {
	t.Helper()
	select {
	case d := <-rs.updates:
		t.Fatalf("unexpected update: %+v", d)
	case <-time.After(during):
	}
}

// messages counts log entries with the given message.
func (rs *runningSource) messages(msg string) int {
	n := 0
	for _, e := range rs.logs.AllEntries() {
		if e.Message == msg {
			n++
		}
	}
	return n
}

// smallCluster is the web service with its tasks on appnet.
func smallCluster(f *fakeEngine, replicas int) {
	f.set(func(f *fakeEngine) {
		f.networks = fixtureNetworks()
		f.services = []swarmtypes.Service{withNetworks(withVIPs(replicated("svc-web", "web"), appnetID, "10.0.1.2/24"),
			swarmtypes.NetworkAttachmentConfig{Target: appnetID})}
		f.tasks = nil
		for i := 1; i <= replicas; i++ {
			f.tasks = append(f.tasks, task(fmt.Sprintf("task-%d", i), "svc-web", i,
				swarmtypes.TaskStateRunning, swarmtypes.TaskStateRunning,
				attached(appnetID, false, fmt.Sprintf("10.0.1.%d/24", 10+i))))
		}
	})
}

func TestSwarmSourceDeliversTheClusterOnStart(t *testing.T) {
	f := newFakeEngine(t)
	smallCluster(f, 3)
	rs := startSource(t, f, 20*time.Millisecond)

	d := rs.next(t, 5*time.Second)
	if len(d.Services) != 1 || len(d.Tasks) != 3 || d.LocalNode != "node-local" {
		t.Fatalf("first update = %d services, %d tasks, local node %q; want 1, 3, node-local", len(d.Services), len(d.Tasks), d.LocalNode)
	}
	if got, _ := d.Services[0].VIPOn(appnetID); got.String() != "10.0.1.2" {
		t.Errorf("web VIP on appnet = %s, want 10.0.1.2", got)
	}
}

func TestSwarmSourceUpdatesOnlyOnChange(t *testing.T) {
	f := newFakeEngine(t)
	smallCluster(f, 3)
	rs := startSource(t, f, 10*time.Millisecond)

	rs.next(t, 5*time.Second)
	rs.none(t, 200*time.Millisecond) // about 20 polls of the same cluster

	smallCluster(f, 2)
	d := rs.next(t, 5*time.Second)
	if len(d.Tasks) != 2 {
		t.Fatalf("after scale down: %d tasks, want 2", len(d.Tasks))
	}
	if n := rs.messages("task removed"); n != 1 {
		t.Errorf("%d 'task removed' log entries, want 1", n)
	}
}

func TestSwarmSourceUnreachableManager(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		message string
	}{
		{"services failing keeps the last data and retries", "/services", "manager is down"},
		{"tasks failing after services succeeded never publishes part of the cluster", "/tasks", "manager is down"},
		{"containers failing keeps the last data and retries", "/containers/json", "manager is down"},
		{"networks failing keeps the last data and retries", "/networks", "manager is down"},
		{"nodes failing keeps the last data and retries", "/nodes", "manager is down"},
		// dockerd stops its Swarm component before its API when it shuts down.
		{"an engine that stops being a manager after a sync keeps the last data and retries", "/services",
			`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			smallCluster(f, 3)
			rs := startSource(t, f, 10*time.Millisecond)
			rs.next(t, 5*time.Second)

			f.failPath(tt.path, http.StatusInternalServerError, tt.message)
			smallCluster(f, 1) // a change the source cannot see yet
			rs.none(t, 300*time.Millisecond)
			if n := rs.messages("manager unreachable"); n != 1 {
				t.Errorf("%d 'manager unreachable' log entries while down, want 1", n)
			}

			f.heal()
			d := rs.next(t, 5*time.Second)
			if len(d.Tasks) != 1 {
				t.Errorf("after recovery: %d tasks, want 1", len(d.Tasks))
			}
			if n := rs.messages("manager reachable again"); n != 1 {
				t.Errorf("%d 'manager reachable again' log entries, want 1", n)
			}
		})
	}
}

func TestSwarmSourceUnreachableAtStartPublishesNothingUntilItAnswers(t *testing.T) {
	f := newFakeEngine(t)
	smallCluster(f, 2)
	f.failPath("/tasks", http.StatusServiceUnavailable, "connection refused")
	rs := startSource(t, f, 10*time.Millisecond)

	rs.none(t, 300*time.Millisecond)
	f.heal()
	if d := rs.next(t, 5*time.Second); len(d.Tasks) != 2 {
		t.Errorf("first update: %d tasks, want 2", len(d.Tasks))
	}
}

func TestSwarmSourceNonManagerAtStartIsFatal(t *testing.T) {
	tests := []struct {
		name    string
		message string
	}{
		{"worker node", "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager."},
		{"engine outside any swarm", `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			// Every call only a manager answers fails alike; whichever
			// answers first, the error is the same.
			for _, path := range []string{"/services", "/tasks", "/nodes"} {
				f.failPath(path, http.StatusServiceUnavailable, tt.message)
			}
			rs := startSource(t, f, 10*time.Millisecond)

			select {
			case err := <-rs.done:
				rs.done <- err // for the cleanup
				if !errors.Is(err, ErrNotManager) {
					t.Fatalf("Run returned %v, want ErrNotManager", err)
				}
				if !strings.Contains(err.Error(), "--docker-host") {
					t.Errorf("error %q does not tell the user about --docker-host", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return on a non-manager engine")
			}
			if len(rs.updates) != 0 {
				t.Error("a non-manager engine produced an update")
			}
		})
	}
}

func TestSwarmSourceOnlyReads(t *testing.T) {
	f := newFakeEngine(t)
	smallCluster(f, 3)
	rs := startSource(t, f, 10*time.Millisecond)
	rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })
	f.emit(events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate})
	smallCluster(f, 1)
	rs.next(t, 5*time.Second)
	f.set(func(f *fakeEngine) {
		f.inspect = map[string]container.InspectResponse{"c-9": taskContainer("c-9", "task-9", "svc-web", "web.9.task-9", "10.0.1.19", "")}
	})
	f.emit(taskEvent(events.ActionStart, "c-9", "task-9"))
	rs.next(t, 5*time.Second)

	seen := map[string]bool{}
	for _, r := range f.seenRequests() {
		seen[r] = true
		// The client's version probe may use HEAD on /_ping, also a read.
		if !strings.HasPrefix(r, "GET ") && r != "HEAD /_ping" {
			t.Errorf("request %q is not a read", r)
		}
	}
	for _, want := range []string{"GET /services", "GET /tasks", "GET /networks", "GET /nodes", "GET /containers/json", "GET /containers/c-9/json", "GET /info", "GET /events"} {
		if !seen[want] {
			t.Errorf("no %q request; saw %v", want, seen)
		}
	}
}

func TestSwarmSourceEventsTriggerAFastResync(t *testing.T) {
	tests := []struct {
		name  string
		event events.Message
	}{
		{"service event", events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate, Scope: "swarm"}},
		{"node event", events.Message{Type: events.NodeEventType, Action: events.ActionUpdate, Scope: "swarm"}},
		{"network event", events.Message{Type: events.NetworkEventType, Action: events.ActionCreate, Scope: "swarm"}},
		{"health status of a task's container", events.Message{Type: events.ContainerEventType, Action: events.ActionHealthStatusHealthy, Scope: "local"}},
		{"container event of a task", events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Scope: "local",
			Actor: events.Actor{ID: "c1", Attributes: map[string]string{"com.docker.swarm.task.id": "task-3"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			smallCluster(f, 3)
			// A poll this slow never fires during the test: only the event can.
			rs := startSource(t, f, time.Hour)
			rs.next(t, 5*time.Second)
			waitFor(t, func() bool { return f.subscribers() > 0 })

			smallCluster(f, 2)
			rs.none(t, 100*time.Millisecond)
			f.emit(tt.event)
			// The resync the event brings publishes the new cluster.
			deadline := time.Now().Add(2 * time.Second)
			for d := rs.next(t, 2*time.Second); len(d.Tasks) != 2; d = rs.next(t, time.Until(deadline)) {
			}
		})
	}
}

func TestSwarmSourceFollowsAnEventWithQuickResyncs(t *testing.T) {
	f := newFakeEngine(t)
	smallCluster(f, 3)
	rs := startSource(t, f, time.Hour)
	rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })
	syncs := func() int { return f.count("GET /services") }

	// The container died; the manager marks its task failed only after the
	// resync the event triggered.
	before := syncs()
	f.emit(events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Scope: "local"})
	waitFor(t, func() bool { return syncs() > before })
	rs.none(t, 20*time.Millisecond)
	smallCluster(f, 2)
	if d := rs.next(t, time.Second); len(d.Tasks) != 2 {
		t.Errorf("after the follow-up: %d tasks, want 2", len(d.Tasks))
	}
}

func TestSwarmSourceEventStormIsRateLimited(t *testing.T) {
	f := newFakeEngine(t)
	smallCluster(f, 3)
	rs := startSource(t, f, time.Hour)
	rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })
	syncs := func() int { return f.count("GET /services") }
	before := syncs()
	for range 100 {
		f.emit(events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Scope: "local"})
		time.Sleep(5 * time.Millisecond)
	}
	// 500 ms of events: one sync per 100 ms, give or take the edges.
	if n := syncs() - before; n > 7 {
		t.Errorf("%d syncs during 500 ms of events, want at most 7", n)
	}
}

func TestSwarmSourceContainerEventsThatChangeNoTaskDoNotResync(t *testing.T) {
	for _, action := range []events.Action{events.ActionExecStart + ": sh", events.ActionKill, events.ActionAttach, events.ActionResize} {
		t.Run(string(action), func(t *testing.T) {
			f := newFakeEngine(t)
			smallCluster(f, 3)
			rs := startSource(t, f, time.Hour)
			rs.next(t, 5*time.Second)
			waitFor(t, func() bool { return f.subscribers() > 0 })

			smallCluster(f, 2)
			f.emit(events.Message{Type: events.ContainerEventType, Action: action, Scope: "local"})
			rs.none(t, 300*time.Millisecond)
		})
	}
}

func TestSwarmSourceSyncsTenThousandServices(t *testing.T) {
	const n = 10000
	f := newFakeEngine(t)
	f.set(func(f *fakeEngine) {
		f.networks = fixtureNetworks()
		for i := range n {
			id := fmt.Sprintf("svc-%05d", i)
			f.services = append(f.services, withNetworks(
				withVIPs(replicated(id, fmt.Sprintf("service-%05d", i)), appnetID, fmt.Sprintf("10.1.%d.%d/16", i/250, i%250+1)),
				swarmtypes.NetworkAttachmentConfig{Target: appnetID}))
			f.tasks = append(f.tasks, task(fmt.Sprintf("task-%05d", i), id, 1, swarmtypes.TaskStateRunning, swarmtypes.TaskStateRunning,
				attached(appnetID, false, fmt.Sprintf("10.2.%d.%d/16", i/250, i%250+1))))
		}
	})
	rs := startSource(t, f, time.Second)

	d := rs.next(t, 60*time.Second)
	if len(d.Services) != n || len(d.Tasks) != n {
		t.Fatalf("got %d services and %d tasks, want %d of each", len(d.Services), len(d.Tasks), n)
	}
	byService := make(map[string]int, n)
	for _, tk := range d.Tasks {
		byService[tk.ServiceID]++
		if len(tk.AddrsOn(appnetID)) != 1 {
			t.Fatalf("task %s has addresses %v, want one on appnet", tk.ID, tk.Addresses)
		}
	}
	for _, s := range d.Services {
		if vip, _ := s.VIPOn(appnetID); byService[s.ID] != 1 || !vip.IsValid() {
			t.Fatalf("service %s: %d tasks, VIP %v", s.Name, byService[s.ID], s.VirtualIPs)
		}
	}
}

// tookReporter records how long each sync took.
type tookReporter struct {
	registrytest.UpdateFunc
	took chan time.Duration
}

func (r tookReporter) Synced(took time.Duration) { r.took <- took }

func TestSwarmSourceSyncCostsItsSlowestCallsNotTheirSum(t *testing.T) {
	const each = 80 * time.Millisecond
	f := newFakeEngine(t)
	smallCluster(f, 2)
	f.set(func(f *fakeEngine) {
		f.delay = map[string]time.Duration{"/services": each, "/tasks": each, "/networks": each, "/nodes": each, "/containers/json": each}
	})
	for _, env := range []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION", "DOCKER_CONTEXT"} {
		t.Setenv(env, "")
	}
	src, err := NewSource(Config{DockerHost: f.host(), PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rep := tookReporter{UpdateFunc: func(*registry.Data) {}, took: make(chan time.Duration, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, rep) }()
	defer func() { cancel(); <-done }()

	select {
	case took := <-rep.took:
		// Tasks then containers is the longest chain: two calls. In
		// sequence the five would take 5 × 80 ms.
		if took >= 4*each {
			t.Errorf("a sync took %v, want under %v", took, 4*each)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no sync")
	}
}

func TestNewSwarmSourceHonoursDockerHost(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		cfgHost string
		want    string
	}{
		{"DOCKER_HOST from the environment", "tcp://10.9.9.9:2375", "", "tcp://10.9.9.9:2375"},
		{"--docker-host overrides DOCKER_HOST", "tcp://10.9.9.9:2375", "unix:///run/other.sock", "unix:///run/other.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", tt.env)
			t.Setenv("DOCKER_TLS_VERIFY", "")
			t.Setenv("DOCKER_CERT_PATH", "")
			src, err := NewSource(Config{DockerHost: tt.cfgHost})
			if err != nil {
				t.Fatal(err)
			}
			if got := src.cli.DaemonHost(); got != tt.want {
				t.Errorf("engine host = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	var prevMax time.Duration
	for n := range 40 {
		d := backoff(n)
		ceiling := min(retryMin<<min(n, 16), retryMax)
		if d < ceiling/2 || d > ceiling {
			t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, ceiling/2, ceiling)
		}
		if ceiling < prevMax {
			t.Fatalf("ceiling shrank at retry %d", n)
		}
		prevMax = ceiling
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSwarmSourceReadsStartingLocalContainers(t *testing.T) {
	inspect := func(health string) container.InspectResponse {
		st := &container.State{Running: true, Status: "running"}
		if health != "" {
			st.Health = &container.Health{Status: health}
		}
		return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: "c1", State: st}}
	}
	tests := []struct {
		name    string
		inspect map[string]container.InspectResponse
		want    string
	}{
		{"a running container without healthcheck makes the task running", map[string]container.InspectResponse{"c1": inspect("")}, registry.TaskRunning},
		{"a healthy container makes the task running", map[string]container.InspectResponse{"c1": inspect(container.Healthy)}, registry.TaskRunning},
		{"a container still checking its health leaves the task starting", map[string]container.InspectResponse{"c1": inspect(container.Starting)}, "starting"},
		{"a failed inspect leaves the task to the manager", nil, "starting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			f.set(func(f *fakeEngine) {
				f.networks = fixtureNetworks()
				f.services = []swarmtypes.Service{replicated("svc-web", "web")}
				f.tasks = []swarmtypes.Task{withContainer(task("task-1", "svc-web", 1, swarmtypes.TaskStateRunning, swarmtypes.TaskStateStarting,
					attached(appnetID, false, "10.0.1.11/24")), "c1")}
				f.containers = []container.Summary{{ID: "c1", State: "running"}}
				f.inspect = tt.inspect
			})
			rs := startSource(t, f, time.Hour)
			d := rs.next(t, 5*time.Second)
			if len(d.Tasks) != 1 || d.Tasks[0].State != tt.want {
				t.Errorf("tasks %+v, want one in state %s", d.Tasks, tt.want)
			}
		})
	}
}

func TestSwarmSourceDieEventStopsTheTaskBeforeTheEngineUnlistsIt(t *testing.T) {
	f := newFakeEngine(t)
	f.oneTask(swarmtypes.TaskStateRunning)
	rs := startSource(t, f, time.Hour)
	if d := rs.next(t, 5*time.Second); d.Tasks[0].State != registry.TaskRunning {
		t.Fatalf("before the event: %+v", d.Tasks)
	}
	waitFor(t, func() bool { return f.subscribers() > 0 })
	f.emit(events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Scope: "local", Actor: events.Actor{ID: "c1"}})
	if d := rs.next(t, time.Second); d.Tasks[0].State != TaskContainerStopped {
		t.Errorf("after the die event: %+v, want the task %s", d.Tasks, TaskContainerStopped)
	}
}

func TestLocalTasksRemembersWhatTheEngineSaid(t *testing.T) {
	now := time.Now()
	started := func(container, task string) startedTask {
		return startedTask{task: registry.Task{ID: task, ServiceID: "svc-web", State: registry.TaskRunning}, container: container, at: now}
	}
	tests := []struct {
		name        string
		do          func(l *localTasks)
		wantDied    []string
		wantStarted []string
	}{
		{"a die event is remembered with its task", func(l *localTasks) { l.noteDied("c1", "task-1", now) }, []string{"c1"}, nil},
		{"a container that died is not started by an inspect that answers late", func(l *localTasks) {
			l.noteDied("c1", "task-1", now)
			if l.noteStarted(started("c1", "task-1")) {
				t.Error("noteStarted accepted a dead container")
			}
		}, []string{"c1"}, nil},
		{"a die forgets that the container started", func(l *localTasks) {
			l.noteStarted(started("c1", "task-1"))
			l.noteDied("c1", "task-1", now)
		}, []string{"c1"}, nil},
		{"a container that starts again is no longer dead", func(l *localTasks) {
			l.noteDied("c1", "", now)
			l.forgetDied("c1")
		}, nil, nil},
		{"a destroyed container is forgotten", func(l *localTasks) {
			l.noteStarted(started("c1", "task-1"))
			l.noteDied("c2", "task-2", now)
			l.forget("c1")
			l.forget("c2")
		}, nil, nil},
		{"what is older than the memory is forgotten", func(l *localTasks) {
			l.noteDied("c1", "task-1", now.Add(-2*localTaskMemory))
			old := started("c2", "task-2")
			old.at = now.Add(-2 * localTaskMemory)
			l.noteStarted(old)
			l.noteStarted(started("c3", "task-3"))
		}, nil, []string{"c3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l localTasks
			tt.do(&l)
			died, started := l.current(now)
			if got := slices.Sorted(maps.Keys(died)); !slices.Equal(got, tt.wantDied) {
				t.Errorf("died %v, want %v", got, tt.wantDied)
			}
			if got := slices.Sorted(maps.Keys(started)); !slices.Equal(got, tt.wantStarted) {
				t.Errorf("started %v, want %v", got, tt.wantStarted)
			}
		})
	}
}

// The Swarm source reports through its sink as every source does: it
// describes itself first as going stale, then a sync that found something
// new is an update and a sync, one that found nothing new only a sync, and
// one that could not read the manager a failure.
func TestSwarmSourceReportsThroughItsSink(t *testing.T) {
	for _, env := range []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION", "DOCKER_CONTEXT"} {
		t.Setenv(env, "")
	}
	f := newFakeEngine(t)
	smallCluster(f, 2)
	logger, _ := logtest.NewNullLogger()
	src, err := NewSource(Config{DockerHost: f.host(), PollInterval: 20 * time.Millisecond, Logger: logrus.NewEntry(logger)})
	if err != nil {
		t.Fatal(err)
	}
	sink := registrytest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	for _, want := range []string{"describe swarm stales=true", "update 1 services", "synced", "synced"} {
		if got := sink.Next(t); got != want {
			t.Fatalf("reported %q, want %q", got, want)
		}
	}
	if info := sink.Info(t); info.Origin != f.host() {
		t.Errorf("origin %q, want %q", info.Origin, f.host())
	}
	f.failPath("/services", http.StatusInternalServerError, "manager is down")
	for got := sink.Next(t); got != "failed"; got = sink.Next(t) {
		if got != "synced" { // a sync already under way
			t.Fatalf("reported %q while the manager fails, want failed", got)
		}
	}
}

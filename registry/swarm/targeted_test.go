package swarm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/registrytest"
)

// The unfiltered list of a full read, and the filtered ones of targeted
// reads, as fakeEngine.seenFiltered records them.
const (
	fullTaskList = "GET /tasks?desired-state=running"
	fullServices = "GET /services"
)

// fullRead is what a full read of f gives now, as Data: the engine state
// the manager and the local engine would answer with, converted.
func fullRead(t *testing.T, f *fakeEngine) *registry.Data {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	tasks, _ := f.filteredTasks(filters.NewArgs(filters.Arg("desired-state", string(swarmtypes.TaskStateRunning))))
	st := &engineState{
		services:   slices.Clone(f.services),
		tasks:      tasks,
		networks:   slices.Clone(f.networks),
		nodes:      slices.Clone(f.nodes),
		containers: slices.Clone(f.containers),
		localNode:  f.nodeID,
	}
	return st.data()
}

// settles waits until the last Data delivered equals what a full read of
// f gives, and returns it; last is the Data delivered before.
func (rs *runningSource) settles(t *testing.T, f *fakeEngine, last *registry.Data, step string) *registry.Data {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		want := fullRead(t, f)
		if sameSwarmData(last, want) {
			return last
		}
		select {
		case last = <-rs.updates:
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: the source delivered\n%+v\nwant what a full read gives\n%+v", step, last, want)
		}
	}
}

// churnCluster is three services on appnet over three nodes, the local
// one among them, with local containers for the local tasks.
func churnCluster(f *fakeEngine) {
	f.set(func(f *fakeEngine) {
		f.networks = fixtureNetworks()
		f.nodes = nil
		for _, id := range []string{"node-local", "node-2", "node-3"} {
			var n swarmtypes.Node
			n.ID = id
			n.Description.Hostname = "host-" + id
			f.nodes = append(f.nodes, n)
		}
		f.services, f.tasks, f.containers = nil, nil, nil
		for i, name := range []string{"web", "api", "db"} {
			id := "svc-" + name
			f.services = append(f.services, withNetworks(withVIPs(replicated(id, name), appnetID, fmt.Sprintf("10.0.1.%d/24", 2+i)),
				swarmtypes.NetworkAttachmentConfig{Target: appnetID}))
			for slot := 1; slot <= 3; slot++ {
				f.addTask(id, slot, f.nodes[slot-1].ID, swarmtypes.TaskStateRunning)
			}
		}
	})
}

// addTask adds a task the manager wants running, with its container in
// the local list when it is on the local node. The caller holds f.mu.
func (f *fakeEngine) addTask(service string, slot int, node string, state swarmtypes.TaskState) {
	n := len(f.tasks) + 100
	id := fmt.Sprintf("task-%s-%d", service, n)
	tk := withContainer(task(id, service, slot, swarmtypes.TaskStateRunning, state,
		attached(appnetID, false, fmt.Sprintf("10.0.1.%d/24", n%250+1))), "c-"+id)
	tk.NodeID = node
	f.tasks = append(f.tasks, tk)
	if node == f.nodeID {
		f.containers = append(f.containers, container.Summary{ID: "c-" + id, State: "running"})
	}
}

// churnStep is one random change to f and what tells the source about it.
type churnStep struct {
	name string
	do   func(f *fakeEngine, r *rand.Rand) (tell func(rs *runningSource))
}

var churnSteps = []churnStep{
	{"scale a service up", func(f *fakeEngine, r *rand.Rand) func(*runningSource) {
		var id string
		f.set(func(f *fakeEngine) {
			id = f.services[r.IntN(len(f.services))].ID
			f.addTask(id, 10+r.IntN(90), f.nodes[r.IntN(len(f.nodes))].ID, randomState(r))
		})
		return emitting(f, events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate, Actor: events.Actor{ID: id}})
	}},
	{"scale a service down", func(f *fakeEngine, r *rand.Rand) func(*runningSource) {
		var id string
		f.set(func(f *fakeEngine) {
			id = f.services[r.IntN(len(f.services))].ID
			for i := range f.tasks {
				if f.tasks[i].ServiceID == id && f.tasks[i].DesiredState == swarmtypes.TaskStateRunning {
					f.tasks[i].DesiredState = swarmtypes.TaskStateShutdown
					break
				}
			}
		})
		return emitting(f, events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate, Actor: events.Actor{ID: id}})
	}},
	{"a task changes state on another node, told by Reread", func(f *fakeEngine, r *rand.Rand) func(*runningSource) {
		var id string
		f.set(func(f *fakeEngine) {
			i := r.IntN(len(f.tasks))
			f.tasks[i].Status.State = randomState(r)
			id = f.tasks[i].ServiceID
		})
		return func(rs *runningSource) { rs.src.Reread(id) }
	}},
	{"a service is created", func(f *fakeEngine, r *rand.Rand) func(*runningSource) {
		id := fmt.Sprintf("svc-new-%d", r.IntN(1e6))
		f.set(func(f *fakeEngine) {
			f.services = append(f.services, withNetworks(replicated(id, strings.TrimPrefix(id, "svc-")),
				swarmtypes.NetworkAttachmentConfig{Target: appnetID, Aliases: []string{"alias-" + id}}))
			for slot := 1; slot <= r.IntN(4); slot++ {
				f.addTask(id, slot, f.nodes[r.IntN(len(f.nodes))].ID, randomState(r))
			}
		})
		return emitting(f, events.Message{Type: events.ServiceEventType, Action: events.ActionCreate, Actor: events.Actor{ID: id}})
	}},
	{"a service is removed", func(f *fakeEngine, r *rand.Rand) func(*runningSource) {
		var id string
		f.set(func(f *fakeEngine) {
			if len(f.services) == 1 {
				return
			}
			i := r.IntN(len(f.services))
			id = f.services[i].ID
			f.services = slices.Delete(f.services, i, i+1)
			f.tasks = slices.DeleteFunc(f.tasks, func(t swarmtypes.Task) bool { return t.ServiceID == id })
		})
		if id == "" {
			return func(*runningSource) {}
		}
		return emitting(f, events.Message{Type: events.ServiceEventType, Action: events.ActionRemove, Actor: events.Actor{ID: id}})
	}},
	{"a node goes down and its tasks are replaced elsewhere", func(f *fakeEngine, r *rand.Rand) func(*runningSource) {
		var id string
		f.set(func(f *fakeEngine) {
			n := &f.nodes[1+r.IntN(len(f.nodes)-1)]
			id = n.ID
			n.Spec.Labels = map[string]string{"rev": fmt.Sprint(r.IntN(1000))}
			for i := range f.tasks {
				t := f.tasks[i]
				if t.NodeID == id && t.DesiredState == swarmtypes.TaskStateRunning {
					f.tasks[i].DesiredState = swarmtypes.TaskStateShutdown
					f.addTask(t.ServiceID, t.Slot, "node-local", swarmtypes.TaskStateRunning)
				}
			}
		})
		return emitting(f, events.Message{Type: events.NodeEventType, Action: events.ActionUpdate, Actor: events.Actor{ID: id}})
	}},
	{"a network is created", func(f *fakeEngine, r *rand.Rand) func(*runningSource) {
		id := fmt.Sprintf("net%022d", r.IntN(1e6))
		f.set(func(f *fakeEngine) {
			f.networks = append(slices.Clone(f.networks), swarmNet(id, "net-"+id[len(id)-4:], false, fmt.Sprintf("10.9.%d.0/24", r.IntN(250))))
		})
		return emitting(f, events.Message{Type: events.NetworkEventType, Action: events.ActionCreate, Actor: events.Actor{ID: id}})
	}},
	{"a local task container dies and its task fails", func(f *fakeEngine, r *rand.Rand) func(*runningSource) {
		var m events.Message
		f.set(func(f *fakeEngine) {
			for i, t := range f.tasks {
				if t.NodeID == f.nodeID && t.DesiredState == swarmtypes.TaskStateRunning {
					f.tasks[i].DesiredState = swarmtypes.TaskStateShutdown
					f.tasks[i].Status.State = swarmtypes.TaskStateFailed
					c := t.Status.ContainerStatus.ContainerID
					f.containers = slices.DeleteFunc(f.containers, func(s container.Summary) bool { return s.ID == c })
					m = events.Message{Type: events.ContainerEventType, Action: events.ActionDestroy,
						Actor: events.Actor{ID: c, Attributes: map[string]string{labelServiceID: t.ServiceID, labelTaskID: t.ID}}}
					return
				}
			}
		})
		if m.Actor.ID == "" {
			return func(*runningSource) {}
		}
		return emitting(f, m)
	}},
}

func emitting(f *fakeEngine, m events.Message) func(*runningSource) {
	return func(*runningSource) { f.emit(m) }
}

func randomState(r *rand.Rand) swarmtypes.TaskState {
	return []swarmtypes.TaskState{swarmtypes.TaskStatePending, swarmtypes.TaskStateStarting, swarmtypes.TaskStateRunning, swarmtypes.TaskStateRunning}[r.IntN(4)]
}

// Random changes, each told as the engine (or a follower's hint) tells
// it, and read by the targeted reads alone (the reconciliation is an hour
// away): after each, the Data delivered equals what a full read gives.
func TestSwarmSourceTargetedReadsGiveWhatAFullReadGives(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 15))
			f := newFakeEngine(t)
			churnCluster(f)
			rs := startSource(t, f, time.Hour)
			last := rs.settles(t, f, rs.next(t, 5*time.Second), "the first sync")
			waitFor(t, func() bool { return f.subscribers() > 0 })
			for i := range 40 {
				step := churnSteps[r.IntN(len(churnSteps))]
				step.do(f, r)(rs)
				last = rs.settles(t, f, last, fmt.Sprintf("step %d (%s)", i, step.name))
			}
			full := 0
			for _, req := range f.seenFiltered() {
				if req == fullTaskList {
					full++
				}
			}
			if full != 1 {
				t.Errorf("the source listed all tasks %d times, want once (the first sync)", full)
			}
		})
	}
}

func TestSwarmSourceReadsWhatAnEventNames(t *testing.T) {
	tests := []struct {
		name  string
		event events.Message
		// want are the manager reads the event brings, each once or more;
		// none other of the manager's.
		want []string
	}{
		{"a service event reads that service and its tasks",
			events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate, Actor: events.Actor{ID: "svc-api"}},
			[]string{"GET /services?id=svc-api", "GET /tasks?desired-state=running,service=svc-api"}},
		{"a node event reads that node and its tasks",
			events.Message{Type: events.NodeEventType, Action: events.ActionUpdate, Actor: events.Actor{ID: "node-2"}},
			[]string{"GET /nodes?id=node-2", "GET /tasks?desired-state=running,node=node-2"}},
		{"a node event whose tasks changed reads their services too", events.Message{Type: events.NodeEventType, Action: events.ActionUpdate, Actor: events.Actor{ID: "node-3"}},
			[]string{"GET /nodes?id=node-3", "GET /tasks?desired-state=running,node=node-3", "GET /services?id=svc-api", "GET /tasks?desired-state=running,service=svc-api"}},
		{"a network event reads the networks",
			events.Message{Type: events.NetworkEventType, Action: events.ActionCreate, Actor: events.Actor{ID: appnetID}},
			[]string{"GET /networks"}},
		{"a task container's event reads its service",
			events.Message{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "c-x",
				Attributes: map[string]string{labelServiceID: "svc-db", labelTaskID: "task-x"}}},
			[]string{"GET /services?id=svc-db", "GET /tasks?desired-state=running,service=svc-db"}},
		{"another container's event reads only the local engine",
			events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "c-plain"}},
			nil},
	}
	manager := func(req string) bool {
		// GET /networks/{id} is docker_gwbridge on the local engine.
		for _, p := range []string{"GET /services", "GET /tasks", "GET /nodes", "GET /networks?"} {
			if strings.HasPrefix(req, p) {
				return true
			}
		}
		return req == "GET /networks"
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			churnCluster(f)
			rs := startSource(t, f, time.Hour)
			rs.next(t, 5*time.Second)
			waitFor(t, func() bool { return f.subscribers() > 0 })
			time.Sleep(50 * time.Millisecond) // the first sync's calls are in
			f.forget()
			if tt.event.Actor.ID == "node-3" {
				f.set(func(f *fakeEngine) {
					for i, tk := range f.tasks {
						if tk.NodeID == "node-3" && tk.ServiceID == "svc-api" {
							f.tasks[i].Status.State = swarmtypes.TaskStateFailed
						}
					}
				})
			}
			f.emit(tt.event)
			waitFor(t, func() bool { return f.count("GET /containers/json") > 0 })
			time.Sleep(1500 * time.Millisecond) // the follow-ups too
			seen := map[string]bool{}
			for _, req := range f.seenFiltered() {
				if manager(req) {
					seen[req] = true
				}
			}
			for _, w := range tt.want {
				if !seen[w] {
					t.Errorf("no %s; saw %v", w, seen)
				}
				delete(seen, w)
			}
			if len(seen) > 0 {
				t.Errorf("reads the event does not need: %v", seen)
			}
		})
	}
}

func TestSwarmSourceRereadReadsTheServicesNamed(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	rs := startSource(t, f, time.Hour)
	last := rs.next(t, 5*time.Second)
	// The manager failed a task of api on another node: no event says so.
	f.set(func(f *fakeEngine) {
		for i, tk := range f.tasks {
			if tk.ServiceID == "svc-api" && tk.NodeID == "node-2" {
				f.tasks[i].DesiredState = swarmtypes.TaskStateShutdown
			}
		}
	})
	f.forget()
	rs.src.Reread("svc-api")
	d := rs.settles(t, f, last, "Reread")
	if len(d.Tasks) != len(last.Tasks)-1 {
		t.Errorf("%d tasks after Reread, want %d", len(d.Tasks), len(last.Tasks)-1)
	}
	if n := f.count("GET /tasks"); n == 0 || slices.Contains(f.seenFiltered(), fullTaskList) {
		t.Errorf("Reread read the tasks %d times, with a full list among them: %v", n, f.seenFiltered())
	}
}

func TestSwarmSourceDropsARemovedServiceWithItsTasks(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	rs := startSource(t, f, time.Hour)
	rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })
	// The tasks outlive the service for a moment: the manager answers 404
	// for the tasks of a service it does not have.
	f.set(func(f *fakeEngine) {
		f.services = slices.DeleteFunc(f.services, func(s swarmtypes.Service) bool { return s.ID == "svc-db" })
	})
	f.emit(events.Message{Type: events.ServiceEventType, Action: events.ActionRemove, Actor: events.Actor{ID: "svc-db"}})
	d := rs.next(t, 5*time.Second)
	for _, tk := range d.Tasks {
		if tk.ServiceID == "svc-db" {
			t.Fatalf("task %s of the removed service is still there", tk.ID)
		}
	}
	if len(d.Services) != 2 || len(d.Tasks) != 6 {
		t.Errorf("%d services and %d tasks, want 2 and 6", len(d.Services), len(d.Tasks))
	}
}

// At rest the manager is asked for one node every poll interval, and the
// whole cluster only at the reconciliations, further and further apart.
func TestSwarmSourceAtRestReadsLittle(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	rs := startSourceWith(t, f, Config{PollInterval: 20 * time.Millisecond, ReconcileMax: 160 * time.Millisecond})
	rs.next(t, 5*time.Second)
	time.Sleep(time.Second)
	full, heartbeats := 0, 0
	for _, req := range f.seenFiltered() {
		switch req {
		case fullTaskList:
			full++
		case "GET /nodes?id=node-local":
			heartbeats++
		}
	}
	// Reconciliations at 20, 40, 80, 160, then every 160 ms: about 8 in a
	// second, where a poll of every 20 ms read the cluster 50 times.
	if full > 12 {
		t.Errorf("%d full reads in a second at rest, want at most 12", full)
	}
	if heartbeats < 10 {
		t.Errorf("%d heartbeats in a second at a 20 ms poll, want at least 10", heartbeats)
	}
}

func TestReconciliationIntervalAdapts(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	src, err := NewSource(Config{DockerHost: f.host(), PollInterval: time.Second, ReconcileMax: 8 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logger, _ := logtest.NewNullLogger()
	src.log = logrus.NewEntry(logger)
	l := &loop{src: src, sink: registrytest.UpdateFunc(func(*registry.Data) {}), timer: time.NewTimer(time.Hour), reconcileEvery: time.Second}
	read := func(kind readKind) {
		t.Helper()
		st, err := src.readAll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		l.readSucceeded(readResult{kind: kind, start: time.Now(), all: st})
	}
	steps := []struct {
		name   string
		change func(f *fakeEngine)
		kind   readKind
		want   time.Duration
	}{
		{"the first read leaves the interval at the poll interval", nil, readAll, time.Second},
		{"a reconciliation that finds nothing doubles it", nil, readReconcile, 2 * time.Second},
		{"and again", nil, readReconcile, 4 * time.Second},
		{"up to ReconcileMax", nil, readReconcile, 8 * time.Second},
		{"and no further", nil, readReconcile, 8 * time.Second},
		{"a full read asked for by an event leaves it", func(f *fakeEngine) { f.addTask("svc-web", 9, "node-2", swarmtypes.TaskStateRunning) },
			readAll, 8 * time.Second},
		{"a reconciliation that finds a change brings it back to the poll interval", func(f *fakeEngine) { f.tasks = f.tasks[1:] },
			readReconcile, time.Second},
	}
	for _, s := range steps {
		if s.change != nil {
			f.set(s.change)
		}
		read(s.kind)
		if l.reconcileEvery != s.want {
			t.Fatalf("%s: interval %v, want %v", s.name, l.reconcileEvery, s.want)
		}
	}
	src.streamDown.Store(true)
	read(readReconcile)
	read(readReconcile)
	if l.reconcileEvery != time.Second {
		t.Errorf("without an event stream: interval %v, want the poll interval", l.reconcileEvery)
	}
}

func TestLogSwarmChangesIsBounded(t *testing.T) {
	tasks := func(service string, n int, state string) []registry.Task {
		var out []registry.Task
		for i := range n {
			out = append(out, registry.Task{ID: fmt.Sprintf("%s-%05d", service, i), ServiceID: service, Slot: i + 1, State: state})
		}
		return out
	}
	data := func(ts ...[]registry.Task) *registry.Data {
		d := &registry.Data{Services: []registry.Service{{ID: "svc-big", Name: "big"}, {ID: "svc-web", Name: "web"}}}
		for _, t := range ts {
			d.Tasks = append(d.Tasks, t...)
		}
		sortSwarmData(d)
		return d
	}
	many := make([]registry.Service, 25)
	for i := range many {
		many[i] = registry.Service{ID: fmt.Sprintf("svc-%02d", i), Name: fmt.Sprintf("s%02d", i)}
	}
	tests := []struct {
		name      string
		old, cur  *registry.Data
		wantLines int
	}{
		{"a few task changes are a line each", data(tasks("svc-web", 2, "running")), data(tasks("svc-web", 5, "running")), 3},
		{"ten thousand pending tasks of one service are one line", data(tasks("svc-web", 2, "running")),
			data(tasks("svc-web", 2, "running"), tasks("svc-big", 10000, "pending")), 1},
		{"the same tasks changing state are one line", data(tasks("svc-big", 10000, "new")), data(tasks("svc-big", 10000, "pending")), 1},
		{"tasks of many services are ten lines and one for the rest", &registry.Data{Services: many}, func() *registry.Data {
			d := &registry.Data{Services: many}
			for _, s := range many {
				d.Tasks = append(d.Tasks, tasks(s.ID, 2, "running")...)
			}
			sortSwarmData(d)
			return d
		}(), maxChangeLines + 1},
		{"many services created are ten lines and one for the rest", &registry.Data{}, &registry.Data{Services: many}, maxChangeLines + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, hook := logtest.NewNullLogger()
			logSwarmChanges(logrus.NewEntry(logger), tt.old, tt.cur)
			if n := len(hook.AllEntries()); n != tt.wantLines {
				var msgs []string
				for _, e := range hook.AllEntries() {
					msgs = append(msgs, e.Message)
				}
				t.Errorf("%d log lines, want %d: %v", n, tt.wantLines, msgs)
			}
		})
	}
}

// A task placed on another node reaches running with no event to say so:
// its service is read again at the poll interval while it settles.
func TestSwarmSourceRereadsASettlingService(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	// Follow-ups start at 100 ms, slower than this poll: none run.
	rs := startSourceWith(t, f, Config{PollInterval: 50 * time.Millisecond, ReconcileMax: time.Hour})
	last := rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })
	// The reconciliations, which would see it too, are 800 ms apart by then.
	time.Sleep(1600 * time.Millisecond)
	var id string
	f.set(func(f *fakeEngine) {
		f.addTask("svc-api", 7, "node-2", swarmtypes.TaskStateStarting)
		id = f.tasks[len(f.tasks)-1].ID
	})
	f.emit(events.Message{Type: events.ServiceEventType, Action: events.ActionUpdate, Actor: events.Actor{ID: "svc-api"}})
	last = rs.settles(t, f, last, "the scale up")
	reads := func() int {
		return strings.Count(strings.Join(f.seenFiltered(), "\n"), "GET /tasks?desired-state=running,service=svc-api")
	}
	before := reads()
	f.set(func(f *fakeEngine) {
		for i := range f.tasks {
			if f.tasks[i].ID == id {
				f.tasks[i].Status.State = swarmtypes.TaskStateRunning
			}
		}
	})
	rs.settles(t, f, last, "the task running")
	if reads() == before {
		t.Errorf("the service was not read again while it settled")
	}
	// Settled, it is read no more.
	time.Sleep(100 * time.Millisecond)
	n := reads()
	time.Sleep(500 * time.Millisecond)
	if reads() != n {
		t.Errorf("%d reads of a settled service in 500 ms, want none", reads()-n)
	}
}

package swarm

import (
	"strings"
	"testing"
	"time"

	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/swarmdns/swarmdns/registry"
)

// withReplicas sets the replica count of the service with that ID. The
// caller holds f.mu.
func (f *fakeEngine) withReplicas(id string, n uint64) {
	for i := range f.services {
		if f.services[i].ID == id {
			f.services[i].Spec.Mode.Replicated = &swarmtypes.ReplicatedService{Replicas: &n}
		}
	}
}

// setTask changes the task with that ID. The caller does not hold f.mu.
func (f *fakeEngine) setTask(id string, change func(t *swarmtypes.Task)) {
	f.set(func(f *fakeEngine) {
		for i := range f.tasks {
			if f.tasks[i].ID == id {
				change(&f.tasks[i])
			}
		}
	})
}

// serviceReads counts the targeted reads of a service's tasks so far.
func serviceReads(f *fakeEngine, id string) int {
	return strings.Count(strings.Join(f.seenFiltered(), "\n"), "GET /tasks?desired-state=running,service="+id)
}

// A task container killed on a worker: the follower's hint says so, and
// then the manager replaces the task with no event at all — the
// replacement wanted ready (the restart delay), then running but pending,
// assigned to a node, running. Each step reaches the sink within a few
// hold polls, where the poll interval (and the settling schedule, which
// does not count pending tasks) is a second.
func TestSwarmSourceHoldsAServiceAHintNamedUntilItsReplacementRuns(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	f.set(func(f *fakeEngine) { f.withReplicas("svc-web", 3) })
	rs := startSourceWith(t, f, Config{PollInterval: time.Second, ReconcileMax: time.Hour})
	last := rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })
	// The reconciliations are seconds apart by then.
	time.Sleep(2 * time.Second)

	var killed, replacement string
	f.set(func(f *fakeEngine) {
		for i := range f.tasks {
			if f.tasks[i].ServiceID == "svc-web" && f.tasks[i].NodeID == "node-2" {
				killed = f.tasks[i].ID
				f.tasks[i].DesiredState, f.tasks[i].Status.State = swarmtypes.TaskStateShutdown, swarmtypes.TaskStateFailed
			}
		}
		f.addTask("svc-web", 2, "", swarmtypes.TaskStatePending)
		replacement = f.tasks[len(f.tasks)-1].ID
		f.tasks[len(f.tasks)-1].DesiredState = swarmtypes.TaskStateReady
	})
	if killed == "" {
		t.Fatal("no task of svc-web on node-2")
	}
	rs.src.Reread("svc-web")
	last = rs.settles(t, f, last, "the hint of the death")

	steps := []struct {
		name   string
		change func(t *swarmtypes.Task)
	}{
		{"the restart delay over: wanted running, pending", func(t *swarmtypes.Task) { t.DesiredState = swarmtypes.TaskStateRunning }},
		{"assigned to a node", func(t *swarmtypes.Task) { t.NodeID, t.Status.State = "node-2", swarmtypes.TaskStateAssigned }},
		{"starting", func(t *swarmtypes.Task) { t.Status.State = swarmtypes.TaskStateStarting }},
		{"running", func(t *swarmtypes.Task) { t.Status.State = swarmtypes.TaskStateRunning }},
	}
	for _, s := range steps {
		time.Sleep(300 * time.Millisecond) // a step of the scheduler or the agent
		f.setTask(replacement, s.change)
		begun := time.Now()
		last = rs.settles(t, f, last, s.name)
		if took := time.Since(begun); took > 5*holdPoll {
			t.Errorf("%s reached the sink after %v, want within a few hold polls (%v)", s.name, took.Round(time.Millisecond), holdPoll)
		}
	}

	// Converged, it is read no more once the hint's follow-ups are over.
	time.Sleep(2500 * time.Millisecond)
	n := serviceReads(f, "svc-web")
	time.Sleep(time.Second)
	if got := serviceReads(f, "svc-web") - n; got > 0 {
		t.Errorf("%d reads of a converged service in a second, want none", got)
	}
}

// A service whose tasks no node can take stays pending: a hint holds it
// for holdFor, then it is read no more.
func TestSwarmSourceStopsReadingAForeverPendingServiceAfterTheHold(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	f.set(func(f *fakeEngine) { f.addTask("svc-db", 9, "", swarmtypes.TaskStatePending) })
	const hold = 1200 * time.Millisecond
	rs := startSourceWith(t, f, Config{PollInterval: 50 * time.Millisecond, ReconcileMax: time.Hour},
		func(s *Source) { s.holdFor = hold })
	rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })

	// The hold's pace: at holdPoll, a costly read spacing the next.
	l := &loop{src: &Source{holdFor: holdFor}}
	now := time.Now()
	l.hold(serviceWant("svc-db"), now, false)
	pending := &serviceEntry{tasks: []swarmtypes.Task{{Status: swarmtypes.TaskStatus{State: swarmtypes.TaskStatePending}}}}
	running := &serviceEntry{tasks: []swarmtypes.Task{{Status: swarmtypes.TaskStatus{State: swarmtypes.TaskStateRunning}}}}
	l.hold(serviceWant("svc-web"), now, true)
	tests := []struct {
		name    string
		service string
		e       *serviceEntry
		at      time.Time
		took    time.Duration
		changed bool
		want    time.Duration // 0: not held
	}{
		{"held and converging: read at the hold's pace", "svc-db", pending, now.Add(time.Second), time.Millisecond, false, holdPoll},
		{"a costly read spaces the next by holdCost", "svc-db", pending, now.Add(time.Second), time.Second, false, holdCost * time.Second},
		{"past the hold: not held", "svc-db", pending, now.Add(holdFor + time.Millisecond), time.Millisecond, false, 0},
		{"and the hold is forgotten", "svc-db", pending, now, time.Millisecond, false, 0},
		{"told, running, unchanged: waits for the change", "svc-web", running, now.Add(time.Second), time.Millisecond, false, holdPoll},
		{"told, running, unchanged past holdWait: not read", "svc-web", running, now.Add(holdWait + time.Millisecond), time.Millisecond, false, 0},
	}
	for _, tt := range tests {
		every, held := l.heldEvery(tt.service, tt.e, tt.at, tt.took, tt.changed)
		if held != (tt.want != 0) || every != tt.want {
			t.Errorf("%s: every %v held %v, want %v", tt.name, every, held, tt.want)
		}
	}
	l.hold(serviceWant("svc-api"), now, true)
	if _, held := l.heldEvery("svc-api", running, now.Add(time.Second), time.Millisecond, true); held {
		t.Error("told, running, changed: read on at the hold's pace, want its wait over")
	}
	if _, held := l.heldEvery("svc-api", running, now.Add(time.Second), time.Millisecond, false); held {
		t.Error("told, its change seen, running: read on at the hold's pace, want not")
	}

	// The running source, with a hold cut short: read about every hold
	// poll after the hint, then no more.
	rs.src.Reread("svc-db")
	begun := time.Now()
	time.Sleep(hold / 2)
	if n := serviceReads(f, "svc-db"); n < 3 {
		t.Errorf("%d reads of a held pending service in %v, want about one every %v", n, time.Since(begun).Round(time.Millisecond), holdPoll)
	}
	time.Sleep(hold/2 + 300*time.Millisecond)
	n := serviceReads(f, "svc-db")
	time.Sleep(time.Second)
	if got := serviceReads(f, "svc-db") - n; got > 0 {
		t.Errorf("%d reads of a pending service in a second after its hold, want none", got)
	}
}

func TestConvergingServices(t *testing.T) {
	three := uint64(3)
	svc := &swarmtypes.Service{}
	svc.Spec.Mode.Replicated = &swarmtypes.ReplicatedService{Replicas: &three}
	global := &swarmtypes.Service{}
	global.Spec.Mode.Global = &swarmtypes.GlobalService{}
	tk := func(state swarmtypes.TaskState) swarmtypes.Task {
		return swarmtypes.Task{Status: swarmtypes.TaskStatus{State: state}}
	}
	running, pending := swarmtypes.TaskStateRunning, swarmtypes.TaskStatePending
	unplaced := tk(pending)
	unplaced.Status.Err = "no suitable node (scheduling constraints not satisfied on 1 node)"
	tests := []struct {
		name string
		e    serviceEntry
		want bool
	}{
		{"every replica running is not converging", serviceEntry{service: svc, tasks: []swarmtypes.Task{tk(running), tk(running), tk(running)}}, false},
		{"a pending task is converging", serviceEntry{service: svc, tasks: []swarmtypes.Task{tk(running), tk(running), tk(pending)}}, true},
		{"a pending task no node can take is not converging", serviceEntry{service: svc, tasks: []swarmtypes.Task{tk(running), tk(running), unplaced}}, false},
		{"an unplaceable task beside a starting one is converging", serviceEntry{service: svc, tasks: []swarmtypes.Task{tk(running), tk(swarmtypes.TaskStateStarting), unplaced}}, true},
		{"a starting task is converging", serviceEntry{service: svc, tasks: []swarmtypes.Task{tk(running), tk(running), tk(swarmtypes.TaskStateStarting)}}, true},
		{"fewer tasks than replicas is converging", serviceEntry{service: svc, tasks: []swarmtypes.Task{tk(running), tk(running)}}, true},
		{"a global service's running tasks are not converging", serviceEntry{service: global, tasks: []swarmtypes.Task{tk(running)}}, false},
		{"tasks of a service not listed yet, running, are not converging", serviceEntry{tasks: []swarmtypes.Task{tk(running)}}, false},
	}
	for _, tt := range tests {
		if got := tt.e.converging(); got != tt.want {
			t.Errorf("%s: converging %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A follower tells that its node's task containers died: the source stops
// answering those tasks at once, with no read (the manager records the
// death later), and only on the node that told.
func TestSwarmSourceStopsTheTasksAFollowerSawDieAtOnce(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	rs := startSourceWith(t, f, Config{PollInterval: time.Hour, ReconcileMax: time.Hour})
	d := rs.next(t, 5*time.Second)
	byNode := map[string]string{} // node → a task of svc-web there
	for _, tk := range d.Tasks {
		if tk.ServiceID == "svc-web" {
			byNode[tk.NodeID] = tk.ID
		}
	}
	f.forget()
	rs.src.TasksDied("node-2", byNode["node-2"])
	rs.src.TasksDied("node-2", byNode["node-3"]) // not node-2's: a follower speaks for its own node
	d = rs.next(t, time.Second)
	for _, tk := range d.Tasks {
		want := registry.TaskRunning
		if tk.ID == byNode["node-2"] {
			want = TaskContainerStopped
		}
		if tk.State != want {
			t.Errorf("task %s on %s: %s, want %s", tk.ID, tk.NodeID, tk.State, want)
		}
	}
	if reqs := f.seenFiltered(); len(reqs) != 0 {
		t.Errorf("the engine was read for it: %v", reqs)
	}
}

// A service whose tasks no node can take, scaled up: the told change is
// read, and once the event's follow-ups are over the service is read no
// more, though it stays held (the
// scheduler's error says the tasks wait for a node, not for time).
func TestSwarmSourceReadsAnUnplaceableServiceOnlyUntilItsChangeIsSeen(t *testing.T) {
	f := newFakeEngine(t)
	churnCluster(f)
	unplace := func(f *fakeEngine) {
		f.addTask("svc-db", 9, "", swarmtypes.TaskStatePending)
		f.tasks[len(f.tasks)-1].Status.Err = "no suitable node (scheduling constraints not satisfied on 1 node)"
	}
	f.set(unplace)
	rs := startSourceWith(t, f, Config{PollInterval: time.Second, ReconcileMax: time.Hour})
	last := rs.next(t, 5*time.Second)
	waitFor(t, func() bool { return f.subscribers() > 0 })

	f.set(unplace)
	rs.src.Reread("svc-db")
	rs.settles(t, f, last, "the scale up")
	time.Sleep(2500 * time.Millisecond) // the event's follow-ups
	n := serviceReads(f, "svc-db")
	time.Sleep(time.Second)
	if got := serviceReads(f, "svc-db") - n; got > 0 {
		t.Errorf("%d reads in a second of a held service whose tasks no node can take, want none", got)
	}
}

package swarm

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"

	"github.com/swarmdns/swarmdns/registry"
)

// Labels the engine puts on a task's container, and on its events.
const (
	labelTaskID    = "com.docker.swarm.task.id"
	labelTaskName  = "com.docker.swarm.task.name"
	labelServiceID = "com.docker.swarm.service.id"
	labelNodeID    = "com.docker.swarm.node.id"
)

// localTasks is what the local engine said about task containers before
// the manager says it: which ones died and which ones run (and are healthy).
// Both are applied to the last Data at once, without a full sync, and to
// every full sync while the manager lags behind. The die event is the first
// word that a task's addresses are gone: the engine lists a dead container
// as running until it has torn its networks down, half a second later, and
// the agent reports the task failed later still.
type localTasks struct {
	mu      sync.Mutex
	died    map[string]diedContainer // container ID →
	started map[string]startedTask   // container ID →
}

// diedContainer is a task container that died: on the local engine, or,
// told by the follower on node, on that node.
type diedContainer struct {
	task string
	at   time.Time
	node string // "": the local engine
}

// startedTask is a local task whose container runs and is healthy (or has
// no healthcheck), as the engine showed it.
type startedTask struct {
	task      registry.Task
	container string
	at        time.Time
}

// localTaskMemory is how long the engine's word on a container is kept: by
// then the manager has long reported the task running or failed.
const localTaskMemory = time.Minute

// noteDied records a die event. A container that died is not started any
// more, whatever an inspect still under way may say.
func (l *localTasks) noteDied(container, task string, now time.Time) {
	if container == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.died == nil {
		l.died = make(map[string]diedContainer)
	}
	l.died[container] = diedContainer{task: task, at: now}
	delete(l.started, container)
}

// noteStarted records a task container found running; it reports false
// when the container died meanwhile.
func (l *localTasks) noteStarted(st startedTask) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dead := l.died[st.container]; dead {
		return false
	}
	if l.started == nil {
		l.started = make(map[string]startedTask)
	}
	l.started[st.container] = st
	return true
}

// noteTaskDied records that the container of a task on another node died,
// as the follower there told. It is keyed by task: the container's ID is
// that node's business.
func (l *localTasks) noteTaskDied(node, task string, now time.Time) {
	if node == "" || task == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.died == nil {
		l.died = make(map[string]diedContainer)
	}
	l.died["task/"+task] = diedContainer{task: task, at: now, node: node}
}

// forgetDied drops the death of a container that started again.
func (l *localTasks) forgetDied(container string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.died, container)
}

// forget drops what is known of a container the engine destroyed.
func (l *localTasks) forget(container string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.died, container)
	delete(l.started, container)
}

// current returns the died and started containers of the last
// localTaskMemory, forgetting older ones.
func (l *localTasks) current(now time.Time) (died map[string]diedContainer, started map[string]startedTask) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, d := range l.died {
		if now.Sub(d.at) > localTaskMemory {
			delete(l.died, id)
			continue
		}
		if died == nil {
			died = make(map[string]diedContainer, len(l.died))
		}
		died[id] = d
	}
	for id, s := range l.started {
		if now.Sub(s.at) > localTaskMemory {
			delete(l.started, id)
			continue
		}
		if started == nil {
			started = make(map[string]startedTask, len(l.started))
		}
		started[id] = s
	}
	return died, started
}

// containerEvent records what a container event says about a local task
// and reports whether it changed what is known; a start or a healthy
// status costs one inspect of that container. changed is called when an
// inspect finishes later.
func (s *Source) containerEvent(ctx context.Context, m events.Message, changed func()) bool {
	id := m.Actor.ID
	switch m.Action {
	case events.ActionDie:
		s.local.noteDied(id, m.Actor.Attributes[labelTaskID], time.Now())
		return true
	case events.ActionDestroy:
		s.local.forget(id)
		return false
	case events.ActionStart:
		s.local.forgetDied(id)
	case events.ActionHealthStatusHealthy:
	default:
		return false
	}
	if m.Actor.Attributes[labelTaskID] == "" {
		return false
	}
	go func() {
		if st, ok := s.inspectStarted(ctx, id); ok && s.local.noteStarted(st) {
			changed()
		}
	}()
	return false
}

// inspectStarted reads one container and returns its task when the
// container runs and is healthy or has no healthcheck.
func (s *Source) inspectStarted(ctx context.Context, id string) (startedTask, bool) {
	c, err := s.cli.ContainerInspect(ctx, id)
	if err != nil || c.ContainerJSONBase == nil || c.State == nil || !c.State.Running || c.Config == nil {
		return startedTask{}, false
	}
	if h := c.State.Health; h != nil && h.Status != container.Healthy {
		return startedTask{}, false
	}
	labels := c.Config.Labels
	t := registry.Task{
		ID:        labels[labelTaskID],
		ServiceID: labels[labelServiceID],
		NodeID:    labels[labelNodeID],
		State:     registry.TaskRunning,
		Slot:      slotOf(labels[labelTaskName], labels[labelTaskID]),
	}
	if t.ID == "" || t.ServiceID == "" {
		return startedTask{}, false
	}
	if c.NetworkSettings != nil {
		for _, ep := range c.NetworkSettings.Networks {
			if ep == nil || ep.NetworkID == "" {
				continue
			}
			for _, a := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
				if addr, err := netip.ParseAddr(a); err == nil {
					t.AddAddrs(ep.NetworkID, addr)
				}
			}
		}
	}
	return startedTask{task: t, container: c.ID, at: time.Now()}, true
}

// slotOf reads the slot from a task name, "<service>.<slot>.<task ID>";
// a global service's task has its node ID there, and slot 0.
func slotOf(name, task string) int {
	rest, ok := strings.CutSuffix(name, "."+task)
	if !ok {
		return 0
	}
	slot, err := strconv.Atoi(rest[strings.LastIndexByte(rest, '.')+1:])
	if err != nil || slot < 0 {
		return 0
	}
	return slot
}

// withLocalTasks returns d with what the local engine (and the followers,
// of their nodes' deaths) said since the reads d came from (the read of
// each service began at readAt(service ID)): a task whose container died
// is stopped, a task whose container started
// runs, and a started task the manager had not listed yet joins its
// service. d is not modified; unchanged, it is returned as is.
func withLocalTasks(d *registry.Data, died map[string]diedContainer, started map[string]startedTask, readAt func(service string) time.Time) *registry.Data {
	if d == nil || (len(died) == 0 && len(started) == 0) {
		return d
	}
	stopped := make(map[string]string, len(died)) // task ID → its node ("": any)
	for _, c := range died {
		if c.task != "" {
			stopped[c.task] = c.node
		}
	}
	byTask := make(map[string]startedTask, len(started))
	for _, st := range started {
		byTask[st.task.ID] = st
	}

	var tasks []registry.Task // copied on the first change
	seen := make(map[string]bool, len(byTask))
	for i, t := range d.Tasks {
		st, isStarted := byTask[t.ID]
		seen[t.ID] = isStarted
		switch {
		case diedOn(stopped, t) && t.State == registry.TaskRunning:
			t.State = TaskContainerStopped
		case isStarted && beforeRunning(t.State):
			t.State = registry.TaskRunning
			if len(t.Addresses) == 0 {
				t.Addresses = overlayOnly(st.task.Addresses, d.Networks)
			}
		default:
			continue
		}
		if tasks == nil {
			tasks = append(make([]registry.Task, 0, len(d.Tasks)+len(byTask)), d.Tasks...)
		}
		tasks[i] = t
	}

	services := make(map[string]registry.Service, len(d.Services))
	for _, svc := range d.Services {
		services[svc.ID] = svc
	}
	added := false
	for id, st := range byTask {
		svc, known := services[st.task.ServiceID]
		// A task the manager did not list at a sync after the start is
		// the manager's business (removed, or never this node's).
		if seen[id] || !known || !st.at.After(readAt(st.task.ServiceID)) {
			continue
		}
		if tasks == nil {
			tasks = append(make([]registry.Task, 0, len(d.Tasks)+len(byTask)), d.Tasks...)
		}
		t := st.task
		if svc.Global {
			t.Slot = 0
		}
		if t.NodeID == "" {
			t.NodeID = d.LocalNode
		}
		t.Addresses = overlayOnly(t.Addresses, d.Networks)
		tasks = append(tasks, t)
		added = true
	}
	if tasks == nil {
		return d
	}
	if added {
		sort.Slice(tasks, func(i, j int) bool { return tasks[i].ID < tasks[j].ID })
	}
	out := *d
	out.Tasks = tasks
	return &out
}

// diedOn tells whether stopped says t's container died: on the local
// engine, or on t's node as its follower told.
func diedOn(stopped map[string]string, t registry.Task) bool {
	node, ok := stopped[t.ID]
	return ok && (node == "" || node == t.NodeID)
}

// beforeRunning reports whether a task in state s is on its way to running.
func beforeRunning(s string) bool {
	switch s {
	case "new", "pending", "assigned", "accepted", "preparing", "ready", "starting":
		return true
	}
	return false
}

// overlayOnly keeps the addresses on Swarm networks other than ingress, as
// a full sync does from the task's attachments.
func overlayOnly(addrs []registry.NetworkAddrs, networks []registry.Network) []registry.NetworkAddrs {
	from := registry.Task{Addresses: addrs}
	var out registry.Task
	for _, n := range networks {
		if n.Ingress {
			continue
		}
		out.AddAddrs(n.ID, from.AddrsOn(n.ID)...)
	}
	for _, na := range out.Addresses {
		slices.SortFunc(na.Addrs, netip.Addr.Compare)
	}
	return out.Addresses
}

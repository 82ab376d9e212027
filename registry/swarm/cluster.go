package swarm

import (
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"
)

// cluster is the source's copy of what the manager and the local engine
// said at their last reads: a full read replaces it, a targeted read (one
// service, one node, the networks, the local containers) replaces the part
// it read. Its state is what a full read would have given at those reads,
// so the Data built from it equals a full read's once the reads caught up.
// It keeps only the fields the conversion to Data uses.
type cluster struct {
	services   map[string]*serviceEntry // service ID →
	nodes      map[string]swarmtypes.Node
	networks   []network.Summary
	gateways   map[string][]netip.Addr
	containers []container.Summary
	localNode  string
}

// serviceEntry is one service and its tasks the manager wants running.
// A task whose service was not listed (created since) has an entry
// without a service.
type serviceEntry struct {
	service *swarmtypes.Service
	tasks   []swarmtypes.Task
	// ready holds the local containers of its starting tasks that were
	// found running and healthy when the tasks were read.
	ready map[string]bool
	// readAt is when the read of this service began: a local task that
	// started before it and that the manager did not list is not joined.
	readAt time.Time
}

// newCluster keeps what a full read, begun at at, gave.
func newCluster(st *engineState, at time.Time) *cluster {
	c := &cluster{
		services:   make(map[string]*serviceEntry, len(st.services)),
		nodes:      make(map[string]swarmtypes.Node, len(st.nodes)),
		networks:   st.networks,
		gateways:   st.gateways,
		containers: st.containers,
		localNode:  st.localNode,
	}
	for _, svc := range st.services {
		svc := slimService(svc)
		c.services[svc.ID] = &serviceEntry{service: &svc, readAt: at}
	}
	for _, n := range st.nodes {
		c.nodes[n.ID] = slimNode(n)
	}
	for _, t := range st.tasks {
		if t.DesiredState != swarmtypes.TaskStateRunning {
			continue
		}
		e := c.entry(t.ServiceID, at)
		e.tasks = append(e.tasks, slimTask(t))
	}
	// A full read's ready containers go to the entries of their tasks.
	for _, e := range c.services {
		for _, t := range e.tasks {
			if cs := t.Status.ContainerStatus; cs != nil && st.ready[cs.ContainerID] {
				if e.ready == nil {
					e.ready = map[string]bool{}
				}
				e.ready[cs.ContainerID] = true
			}
		}
	}
	return c
}

// entry returns the entry of a service, made empty when there is none.
func (c *cluster) entry(id string, at time.Time) *serviceEntry {
	e := c.services[id]
	if e == nil {
		e = &serviceEntry{readAt: at}
		c.services[id] = e
	}
	return e
}

// setService replaces what is known of one service: svc nil means the
// manager no longer has it, and its tasks go with it.
func (c *cluster) setService(id string, svc *swarmtypes.Service, tasks []swarmtypes.Task, ready map[string]bool, at time.Time) {
	if svc == nil {
		delete(c.services, id)
		return
	}
	s := slimService(*svc)
	e := &serviceEntry{service: &s, ready: ready, readAt: at}
	for _, t := range tasks {
		if t.DesiredState == swarmtypes.TaskStateRunning && t.ServiceID == id {
			e.tasks = append(e.tasks, slimTask(t))
		}
	}
	c.services[id] = e
}

// setNode replaces one node and its tasks the manager wants running, and
// returns the services whose tasks on it changed: their tasks elsewhere
// change with them (the replacements of tasks on a node gone down).
func (c *cluster) setNode(n swarmtypes.Node, tasks []swarmtypes.Task, ready map[string]bool, at time.Time) map[string]bool {
	c.nodes[n.ID] = slimNode(n)
	onNode := func(t swarmtypes.Task) bool { return t.NodeID == n.ID }
	before := map[string][]swarmtypes.Task{} // service ID → its tasks on n
	for id, e := range c.services {
		for _, t := range e.tasks {
			if onNode(t) {
				before[id] = append(before[id], t)
			}
		}
	}
	after := map[string][]swarmtypes.Task{}
	for _, t := range tasks {
		if t.DesiredState == swarmtypes.TaskStateRunning && onNode(t) {
			after[t.ServiceID] = append(after[t.ServiceID], slimTask(t))
		}
	}
	touched := map[string]bool{}
	for _, m := range []map[string][]swarmtypes.Task{before, after} {
		for id := range m {
			if !reflect.DeepEqual(before[id], after[id]) {
				touched[id] = true
			}
		}
	}
	for id := range touched {
		e := &serviceEntry{readAt: at}
		if old := c.services[id]; old != nil {
			*e = *old
		}
		e.tasks = append(slices.DeleteFunc(slices.Clone(e.tasks), onNode), after[id]...)
		if len(ready) > 0 {
			e.ready = maps.Clone(e.ready)
			if e.ready == nil {
				e.ready = map[string]bool{}
			}
			maps.Copy(e.ready, ready)
		}
		c.services[id] = e
	}
	return touched
}

// settling reports whether the service has tasks the manager wants running
// that are on their way there (placed on a node, not running yet) or
// failed: they change with no event. Pending tasks wait for a node, which a
// change to a node or to the service (both send events) brings.
func (e *serviceEntry) settling() bool {
	for _, t := range e.tasks {
		switch t.Status.State {
		case swarmtypes.TaskStatePending, swarmtypes.TaskStateRunning:
		default:
			return true
		}
	}
	return false
}

// state is the engine state the cluster holds, with what the local engine
// said since (died containers, started tasks) for the conversion to Data.
func (c *cluster) state(died map[string]diedContainer, started map[string]startedTask) *engineState {
	st := &engineState{
		networks:   c.networks,
		gateways:   c.gateways,
		containers: c.containers,
		localNode:  c.localNode,
	}
	n := 0
	for _, e := range c.services {
		n += len(e.tasks)
	}
	st.services = make([]swarmtypes.Service, 0, len(c.services))
	st.tasks = make([]swarmtypes.Task, 0, n)
	for _, e := range c.services {
		if e.service != nil {
			st.services = append(st.services, *e.service)
		}
		st.tasks = append(st.tasks, e.tasks...)
		for id, ok := range e.ready {
			if ok {
				if st.ready == nil {
					st.ready = map[string]bool{}
				}
				st.ready[id] = true
			}
		}
	}
	st.nodes = slices.Collect(maps.Values(c.nodes))
	st.died = make(map[string]bool, len(died))
	for id := range died {
		st.died[id] = true
	}
	// A started container counts as ready, as a full read counts it.
	for id := range started {
		if !st.died[id] {
			if st.ready == nil {
				st.ready = map[string]bool{}
			}
			st.ready[id] = true
		}
	}
	return st
}

// readAt is when the last read of a service began; the zero time when it
// was never read.
func (c *cluster) readAt(service string) time.Time {
	if e := c.services[service]; e != nil {
		return e.readAt
	}
	return time.Time{}
}

// taskErr stands in a slim task for the engine's error text, shared by
// all: 10,000 unplaceable tasks each carry the scheduler's sentence.
const taskErr = "error"

// slimTask keeps the fields of a task that its conversion reads, and
// whether its status has an error; the rest (its spec, above all) is most
// of what the engine sends.
func slimTask(t swarmtypes.Task) swarmtypes.Task {
	out := swarmtypes.Task{
		ID:           t.ID,
		ServiceID:    t.ServiceID,
		Slot:         t.Slot,
		NodeID:       t.NodeID,
		DesiredState: t.DesiredState,
		Status:       swarmtypes.TaskStatus{State: t.Status.State},
	}
	if t.Status.Err != "" {
		out.Status.Err = taskErr // whether there is one (unplaceable), not its text
	}
	if cs := t.Status.ContainerStatus; cs != nil {
		out.Status.ContainerStatus = &swarmtypes.ContainerStatus{ContainerID: cs.ContainerID}
	}
	if len(t.NetworksAttachments) > 0 {
		out.NetworksAttachments = make([]swarmtypes.NetworkAttachment, len(t.NetworksAttachments))
		for i, a := range t.NetworksAttachments {
			out.NetworksAttachments[i].Network.ID = a.Network.ID
			out.NetworksAttachments[i].Network.Spec.Ingress = a.Network.Spec.Ingress
			out.NetworksAttachments[i].Addresses = a.Addresses
		}
	}
	return out
}

// slimService keeps the fields of a service that its conversion reads.
func slimService(s swarmtypes.Service) swarmtypes.Service {
	out := swarmtypes.Service{ID: s.ID, Endpoint: s.Endpoint}
	out.Spec.Annotations = s.Spec.Annotations
	out.Spec.Mode = s.Spec.Mode
	out.Spec.EndpointSpec = s.Spec.EndpointSpec
	out.Spec.TaskTemplate.Networks = s.Spec.TaskTemplate.Networks
	return out
}

// slimNode keeps the fields of a node that its conversion reads.
func slimNode(n swarmtypes.Node) swarmtypes.Node {
	out := swarmtypes.Node{ID: n.ID}
	out.Description.Hostname = n.Description.Hostname
	out.Spec.Labels = n.Spec.Labels
	return out
}

package swarm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/swarmdns/swarmdns/registry"
)

// gatewayBridge is the local bridge through which task containers reach the
// host; a client container talking to a sidecar on the host arrives from its
// address there.
const gatewayBridge = "docker_gwbridge"

// TaskContainerStopped is the state of a task on the local node whose
// container is no longer running while the manager still reports the task
// running: the agent reports a dead container a few hundred milliseconds
// after the engine's die event, and the names must not wait for it.
const TaskContainerStopped = "container-stopped"

// engineState is what one sync reads from the engine, before conversion.
type engineState struct {
	services   []swarmtypes.Service
	tasks      []swarmtypes.Task
	networks   []network.Summary
	nodes      []swarmtypes.Node
	containers []container.Summary
	// gateways holds each container's addresses on docker_gwbridge, which
	// the container list does not show.
	gateways map[string][]netip.Addr
	// ready holds the local containers of tasks the manager does not yet
	// report running that are running and healthy (or have no healthcheck).
	ready map[string]bool
	// died holds local containers the engine reported dead (die events),
	// which it may still list as running for a while.
	died      map[string]bool
	localNode string
}

// readAll reads the whole cluster. Any failed call fails the read: Data is
// never built from part of the state. The calls run concurrently, so a read
// costs its slowest chain of calls rather than their sum.
func (s *Source) readAll(ctx context.Context) (*engineState, error) {
	var st engineState
	g := newCallGroup(ctx)
	g.run(func(ctx context.Context) (err error) {
		st.services, err = s.cli.ServiceList(ctx, swarmtypes.ServiceListOptions{})
		return managerErr("list services", err)
	})
	g.run(func(ctx context.Context) (err error) {
		running := filters.NewArgs(filters.Arg("desired-state", string(swarmtypes.TaskStateRunning)))
		if st.tasks, err = s.cli.TaskList(ctx, swarmtypes.TaskListOptions{Filters: running}); err != nil {
			return managerErr("list tasks", err)
		}
		// The containers are listed after the tasks: a task's container
		// that ran when the tasks were listed and is missing now has
		// stopped since.
		if st.containers, err = s.cli.ContainerList(ctx, container.ListOptions{}); err != nil {
			return fmt.Errorf("list containers: %w", err)
		}
		return nil
	})
	g.run(func(ctx context.Context) (err error) {
		if st.networks, err = s.cli.NetworkList(ctx, network.ListOptions{}); err != nil {
			return fmt.Errorf("list networks: %w", err)
		}
		st.gateways, err = s.gatewayAddresses(ctx, st.networks)
		return err
	})
	g.run(func(ctx context.Context) (err error) {
		st.nodes, err = s.cli.NodeList(ctx, swarmtypes.NodeListOptions{})
		return managerErr("list nodes", err)
	})
	if s.localNode == "" {
		g.run(func(ctx context.Context) error {
			info, err := s.cli.Info(ctx)
			if err != nil {
				return fmt.Errorf("engine info: %w", err)
			}
			st.localNode = info.Swarm.NodeID
			return nil
		})
	}
	if err := g.wait(); err != nil {
		return nil, err
	}
	if s.localNode == "" {
		s.localNode = st.localNode
	}
	st.localNode = s.localNode
	s.nodes.track(ctx, st.localNode, st.nodes) // liveness.go
	died, started := s.local.current(time.Now())
	st.died = diedSet(died)
	st.ready = s.readyContainers(ctx, st.tasks, st.containers, st.localNode, st.died, started)
	return &st, nil
}

// diedSet is the set of containers in died.
func diedSet(died map[string]diedContainer) map[string]bool {
	out := make(map[string]bool, len(died))
	for id := range died {
		out[id] = true
	}
	return out
}

// managerErr wraps the error of a call only a manager answers, telling a
// worker (or an engine outside any swarm) apart from a failing manager.
func managerErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case strings.Contains(err.Error(), "not a swarm manager"):
		return fmt.Errorf("%s: %w (%v)", what, ErrNotManager, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// callGroup runs calls concurrently and keeps the first error, cancelling
// the others; a not-a-manager error wins over any other, since it ends Run.
type callGroup struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func newCallGroup(ctx context.Context) *callGroup {
	ctx, cancel := context.WithCancel(ctx)
	return &callGroup{ctx: ctx, cancel: cancel}
}

func (g *callGroup) run(call func(ctx context.Context) error) {
	g.wg.Go(func() {
		err := call(g.ctx)
		if err == nil {
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.err == nil || (errors.Is(err, ErrNotManager) && !errors.Is(g.err, ErrNotManager)) {
			g.err = err
		}
		g.cancel()
	})
}

func (g *callGroup) wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

// readyContainers inspects the running containers of local tasks that the
// manager still reports as starting: the agent reports "running" a little
// after the container started (or turned healthy), and Docker's embedded
// DNS does not wait for it either. An inspect that fails leaves the task
// to the manager's word.
func (s *Source) readyContainers(ctx context.Context, tasks []swarmtypes.Task, containers []container.Summary, localNode string, died map[string]bool, started map[string]startedTask) map[string]bool {
	var live map[string]bool
	var ready map[string]bool
	for _, t := range tasks {
		if !startingHere(t, localNode) {
			continue
		}
		if id := t.Status.ContainerStatus.ContainerID; started[id].task.ID != "" && !died[id] {
			// Inspected at its start event already.
			if ready == nil {
				ready = make(map[string]bool)
			}
			ready[id] = true
			continue
		}
		if live == nil {
			live = make(map[string]bool, len(containers))
			for _, c := range containers {
				live[c.ID] = true
			}
		}
		id := t.Status.ContainerStatus.ContainerID
		if !live[id] || died[id] {
			continue
		}
		c, err := s.cli.ContainerInspect(ctx, id)
		if err != nil || c.State == nil || !c.State.Running {
			continue
		}
		if h := c.State.Health; h == nil || h.Status == container.Healthy {
			if ready == nil {
				ready = make(map[string]bool)
			}
			ready[id] = true
		}
	}
	return ready
}

// startingHere reports whether t is on node, should run, has a container
// and is in a state between assignment and running.
func startingHere(t swarmtypes.Task, node string) bool {
	if node == "" || t.NodeID != node || t.DesiredState != swarmtypes.TaskStateRunning {
		return false
	}
	if cs := t.Status.ContainerStatus; cs == nil || cs.ContainerID == "" {
		return false
	}
	switch t.Status.State {
	case swarmtypes.TaskStateAssigned, swarmtypes.TaskStateAccepted, swarmtypes.TaskStatePreparing, swarmtypes.TaskStateReady, swarmtypes.TaskStateStarting:
		return true
	}
	return false
}

// gatewayAddresses reads container addresses on docker_gwbridge, if the
// engine has that network.
func (s *Source) gatewayAddresses(ctx context.Context, networks []network.Summary) (map[string][]netip.Addr, error) {
	for _, n := range networks {
		if n.Name != gatewayBridge || n.Scope != "local" {
			continue
		}
		gw, err := s.cli.NetworkInspect(ctx, n.ID, network.InspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("inspect network %s: %w", gatewayBridge, err)
		}
		out := make(map[string][]netip.Addr, len(gw.Containers))
		for id, ep := range gw.Containers {
			for _, cidr := range []string{ep.IPv4Address, ep.IPv6Address} {
				if p, err := netip.ParsePrefix(cidr); err == nil {
					out[id] = append(out[id], p.Addr())
				}
			}
		}
		return out, nil
	}
	return nil, nil
}

// data converts the engine's objects into Data, in canonical order. The
// decoder gave every task its own copy of its service's, node's and
// networks' IDs and of its state; Data keeps one of each.
func (st *engineState) data() *registry.Data {
	d := &registry.Data{LocalNode: st.localNode}
	strs := registry.NewInterner()
	nets := st.swarmNetworks(d, strs)

	// Sized up front: append's headroom on 100,000 tasks is megabytes the
	// Data would keep.
	tasks := 0
	for i := range st.tasks {
		if st.tasks[i].DesiredState == swarmtypes.TaskStateRunning {
			tasks++
		}
	}
	d.Services, d.Tasks = slices.Grow(d.Services, len(st.services)), slices.Grow(d.Tasks, tasks)
	for _, svc := range st.services {
		d.Services = append(d.Services, serviceOf(svc, nets.overlay, nets.ingress, nets.byName, strs))
	}

	for _, n := range st.nodes {
		d.Nodes = append(d.Nodes, registry.Node{ID: strs.Get(n.ID), Hostname: n.Description.Hostname, Labels: registry.NonEmpty(n.Spec.Labels)})
	}

	// The containers are listed after the tasks: a task's container that
	// ran when the tasks were listed and is missing now has stopped since.
	live := make(map[string]bool, len(st.containers))
	for _, c := range st.containers {
		live[c.ID] = true
	}
	var addrs []netip.Addr // scratch: AddAddrs copies
	for _, t := range st.tasks {
		// The filter is the engine's; checking again costs nothing.
		if t.DesiredState != swarmtypes.TaskStateRunning {
			continue
		}
		var task registry.Task
		task, addrs = st.taskOf(t, live, nets.ingress, strs, addrs)
		d.Tasks = append(d.Tasks, task)
	}

	for _, c := range st.containers {
		if ctr, ok := containerOf(c, nets.overlay, nets.ingress, st.gateways[c.ID], strs); ok {
			d.Containers = append(d.Containers, ctr)
		}
	}

	sortSwarmData(d)
	registry.PackAddrs(d.Tasks)
	return d
}

// swarmNetworks are the engine's Swarm-scoped networks by ID and name;
// ingress is kept apart because nothing is named on it.
type swarmNetworks struct {
	overlay, ingress map[string]bool   // network ID →
	byName           map[string]string // name → network ID
}

// swarmNetworks adds the Swarm-scoped networks to d.
func (st *engineState) swarmNetworks(d *registry.Data, strs registry.Interner) swarmNetworks {
	nets := swarmNetworks{overlay: map[string]bool{}, ingress: map[string]bool{}, byName: map[string]string{}}
	for _, n := range st.networks {
		if n.Scope != "swarm" {
			continue
		}
		net := registry.Network{ID: strs.Get(n.ID), Name: n.Name, Ingress: n.Ingress}
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				net.Subnets = append(net.Subnets, p.Masked())
			}
		}
		d.Networks = append(d.Networks, net)
		nets.byName[n.Name] = n.ID
		if n.Ingress {
			nets.ingress[n.ID] = true
		} else {
			nets.overlay[n.ID] = true
		}
	}
	return nets
}

// taskOf converts a task the manager wants running. On the local node,
// the engine's word wins over the manager's: a running task whose
// container is gone or died is stopped, a starting one whose container is
// ready runs. addrs is scratch space, returned for reuse.
func (st *engineState) taskOf(t swarmtypes.Task, live, ingress map[string]bool, strs registry.Interner, addrs []netip.Addr) (registry.Task, []netip.Addr) {
	task := registry.Task{
		ID:        t.ID,
		ServiceID: strs.Get(t.ServiceID),
		Slot:      t.Slot,
		NodeID:    strs.Get(t.NodeID),
		State:     strs.Get(string(t.Status.State)),
	}
	if cs := t.Status.ContainerStatus; cs != nil && cs.ContainerID != "" && st.localNode != "" &&
		t.NodeID == st.localNode && task.State == registry.TaskRunning && (!live[cs.ContainerID] || st.died[cs.ContainerID]) {
		task.State = TaskContainerStopped
	}
	if startingHere(t, st.localNode) && st.ready[t.Status.ContainerStatus.ContainerID] {
		task.State = registry.TaskRunning
	}
	for _, att := range t.NetworksAttachments {
		if att.Network.Spec.Ingress || ingress[att.Network.ID] {
			continue
		}
		addrs = parseCIDRs(addrs[:0], att.Addresses)
		task.AddAddrs(strs.Get(att.Network.ID), addrs...)
	}
	return task, addrs
}

func serviceOf(svc swarmtypes.Service, overlay, ingress map[string]bool, byName map[string]string, strs registry.Interner) registry.Service {
	out := registry.Service{
		ID:           strs.Get(svc.ID),
		Name:         svc.Spec.Name,
		EndpointMode: registry.ModeVIP,
		Global:       svc.Spec.Mode.Global != nil || svc.Spec.Mode.GlobalJob != nil,
		Labels:       registry.NonEmpty(svc.Spec.Labels),
	}
	if es := svc.Spec.EndpointSpec; es != nil && es.Mode == swarmtypes.ResolutionModeDNSRR {
		out.EndpointMode = registry.ModeDNSRR
	}
	for _, vip := range svc.Endpoint.VirtualIPs {
		if ingress[vip.NetworkID] {
			continue
		}
		p, err := netip.ParsePrefix(vip.Addr)
		if err != nil {
			continue // not allocated yet
		}
		out.SetVIP(strs.Get(vip.NetworkID), p.Addr())
	}
	// Endpoint.Ports holds the allocated ports (published ports filled in);
	// before allocation only the spec has them.
	ports := svc.Endpoint.Ports
	if len(ports) == 0 && svc.Spec.EndpointSpec != nil {
		ports = svc.Spec.EndpointSpec.Ports
	}
	for _, p := range ports {
		out.Ports = append(out.Ports, registry.Port{
			Name:      strs.Get(p.Name),
			Protocol:  strs.Get(string(p.Protocol)),
			Target:    uint16(p.TargetPort),
			Published: uint16(p.PublishedPort),
		})
	}
	for _, n := range svc.Spec.TaskTemplate.Networks {
		// The CLI stores network IDs; API clients may have sent a name.
		id := n.Target
		if byID, ok := byName[id]; ok && !overlay[id] && !ingress[id] {
			id = byID
		}
		if ingress[id] {
			continue
		}
		out.Networks = append(out.Networks, registry.Attachment{Network: strs.Get(id), Aliases: n.Aliases})
	}
	return out
}

// containerOf keeps a local container that sits on an overlay network: its
// addresses on every network (the ones it may query from) and its overlay
// networks, ordered by name as the engine orders a container's endpoints;
// and the task it runs, if any (its labels), with whether its healthcheck
// has not passed (the engine's status line says so: a listing has no
// health of its own).
func containerOf(c container.Summary, overlay, ingress map[string]bool, gateway []netip.Addr, strs registry.Interner) (registry.Container, bool) {
	if c.NetworkSettings == nil {
		return registry.Container{}, false
	}
	names := make([]string, 0, len(c.NetworkSettings.Networks))
	for name := range c.NetworkSettings.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	out := registry.Container{ID: c.ID, TaskID: strs.Get(c.Labels[labelTaskID]), ServiceID: strs.Get(c.Labels[labelServiceID]),
		Unhealthy: strings.Contains(c.Status, "(health: starting)") || strings.Contains(c.Status, "(unhealthy)")}
	for _, name := range names {
		ep := c.NetworkSettings.Networks[name]
		if ep == nil || ingress[ep.NetworkID] {
			continue
		}
		for _, s := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
			if a, err := netip.ParseAddr(s); err == nil {
				out.Addresses = append(out.Addresses, a)
			}
		}
		if overlay[ep.NetworkID] {
			out.Networks = append(out.Networks, strs.Get(ep.NetworkID))
		}
	}
	if len(out.Networks) == 0 {
		return registry.Container{}, false
	}
	out.Addresses = append(out.Addresses, gateway...)
	return out, true
}

// parseCIDRs appends to dst the addresses of the CIDR prefixes it can parse.
func parseCIDRs(dst []netip.Addr, cidrs []string) []netip.Addr {
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			dst = append(dst, p.Addr())
		}
	}
	return dst
}

package swarm

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// maxTargeted is the most services and nodes one targeted read asks for;
// a change about more (a node with tasks of hundreds of services gone
// down) is read whole, in one list of each kind.
const maxTargeted = 32

// wants is what a read must bring up to date: everything, or some
// services (each with its tasks), nodes (each with its tasks), the
// networks, the local engine's containers. Every targeted read lists the
// local containers.
type wants struct {
	full     bool
	services map[string]bool
	nodes    map[string]bool
	networks bool
	local    bool
}

func (w wants) empty() bool {
	return !w.full && !w.networks && !w.local && len(w.services) == 0 && len(w.nodes) == 0
}

// targets is how many objects a targeted read of w asks for.
func (w wants) targets() int { return len(w.services) + len(w.nodes) }

// add merges o into w.
func (w *wants) add(o wants) {
	w.full = w.full || o.full
	w.networks = w.networks || o.networks
	w.local = w.local || o.local
	for id := range o.services {
		w.addService(id)
	}
	for id := range o.nodes {
		if w.nodes == nil {
			w.nodes = map[string]bool{}
		}
		w.nodes[id] = true
	}
}

// covers tells whether a read of w reads all that o asks for.
func (w wants) covers(o wants) bool {
	if w.full {
		return true
	}
	if o.full || o.networks && !w.networks {
		return false // every targeted read lists the local containers
	}
	for id := range o.nodes {
		if !w.nodes[id] {
			return false
		}
	}
	for id := range o.services {
		if !w.services[id] {
			return false
		}
	}
	return true
}

func (w *wants) addService(id string) {
	if w.services == nil {
		w.services = map[string]bool{}
	}
	w.services[id] = true
}

func serviceWant(ids ...string) wants {
	var w wants
	for _, id := range ids {
		if id != "" {
			w.addService(id)
		}
	}
	return w
}

// hints gathers what events and Reread say changed until the loop takes
// it; notify holds one pending wake-up.
type hints struct {
	mu     sync.Mutex
	w      wants
	notify chan struct{}
}

func newHints() *hints { return &hints{notify: make(chan struct{}, 1)} }

func (h *hints) add(w wants) {
	if w.empty() {
		return
	}
	h.mu.Lock()
	h.w.add(w)
	h.mu.Unlock()
	kick(h.notify)
}

func (h *hints) take() wants {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.w
	h.w = wants{}
	return w
}

type serviceRead struct {
	service *swarmtypes.Service
	tasks   []swarmtypes.Task
	ready   map[string]bool
}

type nodeRead struct {
	node  *swarmtypes.Node // nil: gone
	tasks []swarmtypes.Task
	ready map[string]bool
}

type localRead struct {
	containers []container.Summary
	gateways   map[string][]netip.Addr
}

// readTargeted reads what w names, then the local engine's containers
// (after the tasks, as a full read lists them). nets are the networks last
// read, for docker_gwbridge, when w does not read them.
func (s *Source) readTargeted(ctx context.Context, w wants, nets []network.Summary) (*readResult, error) {
	r := &readResult{kind: readTargeted, services: make(map[string]serviceRead, len(w.services)), nodes: make(map[string]nodeRead, len(w.nodes))}
	var mu sync.Mutex
	g := newCallGroup(ctx)
	for id := range w.services {
		g.run(func(ctx context.Context) error {
			sr, err := s.readService(ctx, id)
			mu.Lock()
			r.services[id] = sr
			mu.Unlock()
			return err
		})
	}
	for id := range w.nodes {
		g.run(func(ctx context.Context) error {
			nr, err := s.readNode(ctx, id)
			mu.Lock()
			r.nodes[id] = nr
			mu.Unlock()
			return err
		})
	}
	if w.networks {
		g.run(func(ctx context.Context) (err error) {
			r.networks, err = s.cli.NetworkList(ctx, network.ListOptions{})
			if err == nil && r.networks == nil {
				r.networks = []network.Summary{}
			}
			return wrapErr("list networks", err)
		})
	}
	if err := g.wait(); err != nil {
		return nil, err
	}
	if r.networks != nil {
		nets = r.networks
	}
	local, err := s.readLocal(ctx, nets)
	if err != nil {
		return nil, err
	}
	r.local = local
	died, started := s.local.current(time.Now())
	dead := diedSet(died)
	for id, sr := range r.services {
		sr.ready = s.readyContainers(ctx, sr.tasks, local.containers, s.localNode, dead, started)
		r.services[id] = sr
	}
	for id, nr := range r.nodes {
		nr.ready = s.readyContainers(ctx, nr.tasks, local.containers, s.localNode, dead, started)
		r.nodes[id] = nr
	}
	return r, nil
}

// readService reads one service and its tasks the manager wants running
// (GET /services and /tasks, filtered by its ID). A service the manager
// does not have any more comes back without service and tasks.
func (s *Source) readService(ctx context.Context, id string) (serviceRead, error) {
	var sr serviceRead
	gone := false
	g := newCallGroup(ctx)
	g.run(func(ctx context.Context) error {
		list, err := s.cli.ServiceList(ctx, swarmtypes.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("id", id))})
		if err != nil {
			return managerErr("list service "+id, err)
		}
		// The filter matches ID prefixes.
		for i := range list {
			if list[i].ID == id {
				sr.service = &list[i]
			}
		}
		return nil
	})
	g.run(func(ctx context.Context) (err error) {
		sr.tasks, err = s.cli.TaskList(ctx, swarmtypes.TaskListOptions{Filters: filters.NewArgs(
			filters.Arg("service", id), filters.Arg("desired-state", string(swarmtypes.TaskStateRunning)))})
		if client.IsErrNotFound(err) { // the manager answers 404 for a service it does not have
			gone = true
			return nil
		}
		return managerErr("list tasks of service "+id, err)
	})
	if err := g.wait(); err != nil {
		return serviceRead{}, err
	}
	if gone || sr.service == nil {
		return serviceRead{}, nil
	}
	return sr, nil
}

// readNode reads one node and its tasks the manager wants running (GET
// /nodes and /tasks, filtered by its ID); a node gone comes back nil.
func (s *Source) readNode(ctx context.Context, id string) (nodeRead, error) {
	var nr nodeRead
	gone := false
	g := newCallGroup(ctx)
	g.run(func(ctx context.Context) error {
		list, err := s.cli.NodeList(ctx, swarmtypes.NodeListOptions{Filters: filters.NewArgs(filters.Arg("id", id))})
		if err != nil {
			return managerErr("list node "+id, err)
		}
		for i := range list {
			if list[i].ID == id {
				nr.node = &list[i]
			}
		}
		return nil
	})
	g.run(func(ctx context.Context) (err error) {
		nr.tasks, err = s.cli.TaskList(ctx, swarmtypes.TaskListOptions{Filters: filters.NewArgs(
			filters.Arg("node", id), filters.Arg("desired-state", string(swarmtypes.TaskStateRunning)))})
		if client.IsErrNotFound(err) {
			gone = true
			return nil
		}
		return managerErr("list tasks of node "+id, err)
	})
	if err := g.wait(); err != nil {
		return nodeRead{}, err
	}
	if gone || nr.node == nil {
		return nodeRead{}, nil
	}
	return nr, nil
}

// readLocal lists the local engine's containers and their addresses on
// docker_gwbridge.
func (s *Source) readLocal(ctx context.Context, nets []network.Summary) (*localRead, error) {
	var l localRead
	g := newCallGroup(ctx)
	g.run(func(ctx context.Context) (err error) {
		l.containers, err = s.cli.ContainerList(ctx, container.ListOptions{})
		return wrapErr("list containers", err)
	})
	g.run(func(ctx context.Context) (err error) {
		l.gateways, err = s.gatewayAddresses(ctx, nets)
		return err
	})
	if err := g.wait(); err != nil {
		return nil, err
	}
	return &l, nil
}

// heartbeat asks the manager for the local node alone: the cheapest call
// that only a manager answers, to tell that the data is current while no
// change needs a read.
func (s *Source) heartbeat(ctx context.Context) error {
	_, err := s.cli.NodeList(ctx, swarmtypes.NodeListOptions{Filters: filters.NewArgs(filters.Arg("id", s.localNode))})
	return managerErr("list node "+s.localNode, err)
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

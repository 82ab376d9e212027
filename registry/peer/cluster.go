package peer

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
)

// cluster is the part of registry.Data that a manager instance sends: its
// lists, each in ID order with no ID twice. What only one node knows (its
// ID, its containers) is not part of it. A cluster shares its arrays with
// the Data it came from and is never modified.
type cluster struct {
	services []registry.Service
	tasks    []registry.Task
	networks []registry.Network
	nodes    []registry.Node
}

func serviceID(s *registry.Service) string { return s.ID }
func taskID(t *registry.Task) string       { return t.ID }
func networkID(n *registry.Network) string { return n.ID }
func nodeID(n *registry.Node) string       { return n.ID }

// clusterOf returns the cluster part of d, its lists sorted by ID (a list
// already in order, as the Swarm source's are, is shared, not copied). It
// fails when a list names an ID twice: a change by ID cannot carry that.
func clusterOf(d *registry.Data) (cluster, error) {
	var c cluster
	var err error
	if c.services, err = inIDOrder(d.Services, serviceID, "service"); err != nil {
		return c, err
	}
	if c.tasks, err = inIDOrder(d.Tasks, taskID, "task"); err != nil {
		return c, err
	}
	if c.networks, err = inIDOrder(d.Networks, networkID, "network"); err != nil {
		return c, err
	}
	if c.nodes, err = inIDOrder(d.Nodes, nodeID, "node"); err != nil {
		return c, err
	}
	return c, nil
}

func inIDOrder[T any](list []T, id func(*T) string, what string) ([]T, error) {
	if !sortedByID(list, id) {
		list = slices.Clone(list)
		slices.SortStableFunc(list, func(a, b T) int { return cmp.Compare(id(&a), id(&b)) })
	}
	for i := 1; i < len(list); i++ {
		if id(&list[i]) == id(&list[i-1]) {
			return nil, fmt.Errorf("%s ID %q appears twice", what, id(&list[i]))
		}
	}
	return list, nil
}

// sortedByID tells whether list is in ID order; equal IDs count as in
// order, so inIDOrder reports them rather than sorting.
func sortedByID[T any](list []T, id func(*T) string) bool {
	for i := 1; i < len(list); i++ {
		if id(&list[i]) < id(&list[i-1]) {
			return false
		}
	}
	return true
}

// checkOrder fails unless every list is in strict ID order, as a cluster
// must be.
func (c *cluster) checkOrder() error {
	for _, bad := range []string{
		strictOrder(c.services, serviceID, "service"),
		strictOrder(c.tasks, taskID, "task"),
		strictOrder(c.networks, networkID, "network"),
		strictOrder(c.nodes, nodeID, "node"),
	} {
		if bad != "" {
			return fmt.Errorf("cluster data out of ID order at %s", bad)
		}
	}
	return nil
}

func strictOrder[T any](list []T, id func(*T) string, what string) string {
	for i := 1; i < len(list); i++ {
		if id(&list[i]) <= id(&list[i-1]) {
			return what + " " + id(&list[i])
		}
	}
	return ""
}

// data returns complete Data: the cluster and what only this node knows.
func (c *cluster) data(local LocalState) *registry.Data {
	return &registry.Data{
		Services: c.services, Tasks: c.tasks, Networks: c.networks, Nodes: c.nodes,
		Containers: local.Containers, LocalNode: local.NodeID,
	}
}

// equal tells whether two clusters hold the same objects.
func (c *cluster) equal(o *cluster) bool {
	return slices.EqualFunc(c.services, o.services, func(a, b registry.Service) bool { return registry.SameService(&a, &b) }) &&
		slices.EqualFunc(c.tasks, o.tasks, func(a, b registry.Task) bool { return registry.SameTask(&a, &b) }) &&
		slices.EqualFunc(c.networks, o.networks, func(a, b registry.Network) bool { return registry.SameNetwork(&a, &b) }) &&
		slices.EqualFunc(c.nodes, o.nodes, func(a, b registry.Node) bool { return registry.SameNode(&a, &b) })
}

// diff returns the change that leads from old to cur, nil when they hold
// the same objects. It costs one comparison per object, none of which
// allocates.
func diff(old, cur *cluster) *peerpb.Change {
	ch := &peerpb.Change{}
	diffList(old.services, cur.services, serviceID, registry.SameService,
		func(s *registry.Service) { ch.Services = append(ch.Services, servicePB(s)) },
		func(id string) { ch.RemovedServices = append(ch.RemovedServices, id) })
	diffList(old.tasks, cur.tasks, taskID, registry.SameTask,
		func(t *registry.Task) { ch.Tasks = append(ch.Tasks, taskPB(t)) },
		func(id string) { ch.RemovedTasks = append(ch.RemovedTasks, id) })
	diffList(old.networks, cur.networks, networkID, registry.SameNetwork,
		func(n *registry.Network) { ch.Networks = append(ch.Networks, networkPB(n)) },
		func(id string) { ch.RemovedNetworks = append(ch.RemovedNetworks, id) })
	diffList(old.nodes, cur.nodes, nodeID, registry.SameNode,
		func(n *registry.Node) { ch.Nodes = append(ch.Nodes, nodePB(n)) },
		func(id string) { ch.RemovedNodes = append(ch.RemovedNodes, id) })
	if len(ch.Services)+len(ch.RemovedServices)+len(ch.Tasks)+len(ch.RemovedTasks)+
		len(ch.Networks)+len(ch.RemovedNetworks)+len(ch.Nodes)+len(ch.RemovedNodes) == 0 {
		return nil
	}
	return ch
}

// diffList walks two lists in ID order and reports each object added or
// changed (put) and each ID removed, in ID order.
func diffList[T any](old, cur []T, id func(*T) string, same func(a, b *T) bool, put func(*T), removed func(string)) {
	if len(old) == len(cur) && (len(old) == 0 || &old[0] == &cur[0]) {
		return // the same array: unchanged
	}
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(old) && id(&old[i]) < id(&cur[j])):
			removed(id(&old[i]))
			i++
		case i == len(old) || id(&cur[j]) < id(&old[i]):
			put(&cur[j])
			j++
		default:
			if !same(&old[i], &cur[j]) {
				put(&cur[j])
			}
			i++
			j++
		}
	}
}

// apply returns c with ch applied; c is not modified, and a list the change
// does not touch is shared. It fails when the change does not fit c (a
// removed ID c does not hold, objects out of order): the follower then
// asks for the whole data again.
func (c *cluster) apply(ch *peerpb.Change) (cluster, error) {
	d := decoder{}
	services, err := decodeList(ch.Services, d.service)
	if err != nil {
		return cluster{}, err
	}
	tasks, err := decodeList(ch.Tasks, d.task)
	if err != nil {
		return cluster{}, err
	}
	networks, err := decodeList(ch.Networks, d.network)
	if err != nil {
		return cluster{}, err
	}
	nodes, _ := decodeList(ch.Nodes, func(n *peerpb.Node) (registry.Node, error) { return d.node(n), nil })

	var out cluster
	if out.services, err = applyList(c.services, services, ch.RemovedServices, serviceID, "service"); err != nil {
		return cluster{}, err
	}
	if out.tasks, err = applyList(c.tasks, tasks, ch.RemovedTasks, taskID, "task"); err != nil {
		return cluster{}, err
	}
	if out.networks, err = applyList(c.networks, networks, ch.RemovedNetworks, networkID, "network"); err != nil {
		return cluster{}, err
	}
	if out.nodes, err = applyList(c.nodes, nodes, ch.RemovedNodes, nodeID, "node"); err != nil {
		return cluster{}, err
	}
	return out, nil
}

// applyList merges put (objects added or replaced) and removed (IDs), both
// in strict ID order, into cur, in one pass.
func applyList[T any](cur, put []T, removed []string, id func(*T) string, what string) ([]T, error) {
	if len(put) == 0 && len(removed) == 0 {
		return cur, nil
	}
	if bad := strictOrder(put, id, what); bad != "" {
		return nil, fmt.Errorf("change out of ID order at %s", bad)
	}
	for i := 1; i < len(removed); i++ {
		if removed[i] <= removed[i-1] {
			return nil, fmt.Errorf("change out of ID order at removed %s %s", what, removed[i])
		}
	}
	out := make([]T, 0, len(cur)+len(put)-len(removed))
	j, k := 0, 0
	for i := range cur {
		cid := id(&cur[i])
		for j < len(put) && id(&put[j]) < cid {
			out = append(out, put[j])
			j++
		}
		if k < len(removed) && removed[k] < cid {
			return nil, fmt.Errorf("change removes %s %s, which is not there", what, removed[k])
		}
		switch {
		case k < len(removed) && removed[k] == cid:
			if j < len(put) && id(&put[j]) == cid {
				return nil, fmt.Errorf("change both puts and removes %s %s", what, cid)
			}
			k++
		case j < len(put) && id(&put[j]) == cid:
			out = append(out, put[j])
			j++
		default:
			out = append(out, cur[i])
		}
	}
	if k < len(removed) {
		return nil, fmt.Errorf("change removes %s %s, which is not there", what, removed[k])
	}
	out = append(out, put[j:]...)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

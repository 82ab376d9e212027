package registry

import "strings"

// cluster is the Data by ID, as adding services needs it.
type cluster struct {
	data        *Data
	nets        map[string]*Network
	nodes       map[string]*Node
	nodeWeights map[string]uint32 // a node's swarmdns.weight, once read
	// tasks are the running tasks, each service's together, in their
	// order in the data; byService is each service's window of them.
	tasks     []*Task
	byService map[string]taskRange
}

type taskRange struct{ off, n int32 }

func newCluster(d *Data) cluster {
	c := cluster{
		data:        d,
		nets:        make(map[string]*Network, len(d.Networks)),
		nodes:       make(map[string]*Node, len(d.Nodes)),
		nodeWeights: make(map[string]uint32, len(d.Nodes)),
	}
	for i := range d.Networks {
		c.nets[d.Networks[i].ID] = &d.Networks[i]
	}
	for i := range d.Nodes {
		c.nodes[d.Nodes[i].ID] = &d.Nodes[i]
	}
	c.groupTasks()
	return c
}

// groupTasks puts the running tasks of each service together in c.tasks,
// in their order in the data.
func (c *cluster) groupTasks() {
	d := c.data
	c.byService = make(map[string]taskRange, len(d.Services))
	for i := range d.Services {
		c.byService[d.Services[i].ID] = taskRange{}
	}
	// Tasks mostly come service by service: a run of one service's tasks
	// costs one map lookup.
	count := func(fill bool) {
		id, r, ok, started := "", taskRange{}, false, false
		for i := range d.Tasks {
			t := &d.Tasks[i]
			if t.State != TaskRunning {
				continue
			}
			if !started || t.ServiceID != id {
				if ok {
					c.byService[id] = r
				}
				id, started = t.ServiceID, true
				r, ok = c.byService[id]
			}
			if ok {
				if fill {
					c.tasks[r.off+r.n] = t
				}
				r.n++
			}
		}
		if ok {
			c.byService[id] = r
		}
	}
	count(false)
	off := int32(0)
	for id, r := range c.byService {
		c.byService[id] = taskRange{off: off}
		off += r.n
	}
	c.tasks = make([]*Task, off)
	count(true)
}

// tasksOf returns the running tasks of a service.
func (c *cluster) tasksOf(svc *Service) []*Task {
	r := c.byService[svc.ID]
	return c.tasks[r.off : r.off+r.n]
}

// nodeWeight is the swarmdns.weight of a node, 1 when it has none; a bad
// value is a warning, once.
func (b *builder) nodeWeight(id string) uint32 {
	c := &b.cluster
	if w, ok := c.nodeWeights[id]; ok {
		return w
	}
	w := uint32(1)
	if n := c.nodes[id]; n != nil {
		if v, ok := n.Labels[LabelWeight]; ok {
			var err error
			if w, err = parseWeight(v); err != nil {
				b.warnf("node %s: label %s: %v", n.Hostname, LabelWeight, err)
			}
		}
	}
	c.nodeWeights[id] = w
	return w
}

// resolveNetworks turns network names or IDs into a set of IDs; nil for
// none.
func (c *cluster) resolveNetworks(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	set := make(map[string]bool)
	for _, want := range list {
		for _, n := range c.data.Networks {
			if n.ID == want || strings.EqualFold(n.Name, want) {
				set[n.ID] = true
			}
		}
	}
	return set
}

// netName is the lower-case name of a network, or "" for an unknown or
// ingress network, which gets no names.
func (c *cluster) netName(id string) string {
	n := c.nets[id]
	if n == nil || n.Ingress {
		return ""
	}
	return strings.ToLower(n.Name)
}

func (c *cluster) ingress(id string) bool {
	n := c.nets[id]
	return n != nil && n.Ingress
}

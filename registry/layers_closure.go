package registry

import (
	"net/netip"
	"strings"
)

// The base's Data by ID, and the closure of a change over the names its
// services share (see layers.go).

// dataIndex is the base's Data by ID, made once per base on another
// goroutine.
type dataIndex struct {
	services map[string]int32   // by ID, in Data.Services
	tasks    map[string]int32   // by ID, in Data.Tasks
	tasksOf  map[string][]int32 // by service ID: its running tasks in Data.Tasks
	roots    map[string][]int32 // by service name or alias, lower case: the services
	networks map[string]bool    // lower-case names of the non-ingress networks
	// layerable is false when some name of the base could share names
	// with another service in ways the closure does not see (plainRoot):
	// then every publish builds in full.
	layerable bool
}

// indexing is a dataIndex being made.
type indexing struct {
	done  chan struct{}
	index *dataIndex // once done is closed
}

func startIndexing(d *Data, snap *Snapshot, cfg Config) *indexing {
	x := &indexing{done: make(chan struct{})}
	go func() {
		defer close(x.done)
		x.index = indexData(d, snap, cfg)
	}()
	return x
}

// plainRoot reports whether a service name or alias can only share names
// with services of the same name or alias: one label, not "tasks" or
// "arpa", not starting with a digit (a slot name) or "_" (an SRV name).
func plainRoot(r string) bool {
	if r == "" || r == "tasks" || r == "arpa" || strings.IndexByte(r, '.') >= 0 {
		return false
	}
	c := r[0]
	return !('0' <= c && c <= '9') && c != '_'
}

// rootsOf appends the lower-case name and aliases of svc to dst.
func rootsOf(svc *Service, dst []string) []string {
	dst = append(dst, strings.ToLower(svc.Name))
	for _, a := range svc.Networks {
		for _, al := range a.Aliases {
			dst = append(dst, strings.ToLower(al))
		}
	}
	return dst
}

// nameserverKeys returns the keys of the nameserver names under the
// domain.
func nameserverKeys(cfg Config) map[string]bool {
	keys := map[string]bool{}
	for _, ns := range cfg.nameservers() {
		if key, ok := strings.CutSuffix(ns.Name, "."+cfg.Domain); ok {
			keys[key] = true
		}
	}
	return keys
}

func indexData(d *Data, snap *Snapshot, cfg Config) *dataIndex {
	x := &dataIndex{
		services:  make(map[string]int32, len(d.Services)),
		tasks:     make(map[string]int32, len(d.Tasks)),
		tasksOf:   make(map[string][]int32, len(d.Services)),
		roots:     make(map[string][]int32, len(d.Services)),
		networks:  map[string]bool{},
		layerable: !snap.allIndexed,
	}
	ns := nameserverKeys(cfg)
	for i := range d.Networks {
		if n := &d.Networks[i]; !n.Ingress {
			name := strings.ToLower(n.Name)
			x.layerable = x.layerable && plainRoot(name) && !ns[name]
			x.networks[name] = true
		}
	}
	var roots []string
	for i := range d.Services {
		svc := &d.Services[i]
		if _, dup := x.services[svc.ID]; dup {
			x.layerable = false
		}
		x.services[svc.ID] = int32(i)
		roots = rootsOf(svc, roots[:0])
		for _, r := range roots {
			x.layerable = x.layerable && plainRoot(r) && !x.networks[r] && !ns[r]
			x.roots[r] = append(x.roots[r], int32(i))
		}
	}
	for i := range d.Tasks {
		t := &d.Tasks[i]
		if _, dup := x.tasks[t.ID]; dup || (len(x.networks) > 0 && x.networks[strings.ToLower(t.ID)]) {
			x.layerable = false
		}
		x.tasks[t.ID] = int32(i)
	}
	x.groupRunning(d.Tasks)
	return x
}

// groupRunning fills tasksOf with the running tasks of each service, in
// one array. Tasks mostly come service by service: a run of one
// service's tasks costs one map lookup.
func (x *dataIndex) groupRunning(tasks []Task) {
	runs := func(fn func(id string, from, to int)) {
		for i := 0; i < len(tasks); {
			k := i + 1
			for k < len(tasks) && tasks[k].ServiceID == tasks[i].ServiceID {
				k++
			}
			fn(tasks[i].ServiceID, i, k)
			i = k
		}
	}
	count := make(map[string]int, len(x.services))
	total := 0
	runs(func(id string, from, to int) {
		n := 0
		for k := from; k < to; k++ {
			if tasks[k].State == TaskRunning {
				n++
			}
		}
		count[id] += n
		total += n
	})
	all := make([]int32, total)
	for id, n := range count {
		x.tasksOf[id], all = all[:0:n], all[n:]
	}
	runs(func(id string, from, to int) {
		list := x.tasksOf[id]
		for k := from; k < to; k++ {
			if tasks[k].State == TaskRunning {
				list = append(list, int32(k))
			}
		}
		x.tasksOf[id] = list
	})
}

// closure is a new group: its services and the groups it takes.
type closure struct {
	services map[string]bool
	taken    map[*group]bool
	// tasks counts the tasks of its services, now and in the base.
	tasks int
}

// closeOver returns the closures of the dirty services: with each, every
// service that shares a name with it, old or new, until none does, and
// with each service the whole group it is in. A name is shared through a
// service name or alias, or the reverse name of an address (found by the
// names its PTR records point to in the base, and by the addresses of
// the groups' versions). Services that share nothing, through each other
// or not, are in closures of their own, each a new group. ok is false
// when a name of theirs could share names some other way (plainRoot).
func (l *layers) closeOver(now *present, dirty map[string]bool, cfg Config) ([]*closure, bool) {
	c := closing{l: l, now: now, ns: nameserverKeys(cfg), parent: map[string]string{}, taken: map[*group]bool{}}
	for id := range dirty {
		c.from = id
		c.take(id)
		c.takeGroup(l.groupOf[id])
	}
	if !c.close() {
		return nil, false
	}
	// One closure for each set of services joined by what they share.
	byRoot := map[string]*closure{}
	var all []*closure
	for id := range c.parent {
		r := c.find(id)
		cl := byRoot[r]
		if cl == nil {
			cl = &closure{services: map[string]bool{}, taken: map[*group]bool{}}
			byRoot[r] = cl
			all = append(all, cl)
		}
		cl.services[id] = true
		cl.tasks += len(l.index.tasksOf[id]) + len(now.version(id).tasks)
	}
	for g := range c.taken {
		for id := range g.members {
			byRoot[c.find(id)].taken[g] = true
			break
		}
	}
	return all, true
}

// closing is the state of closeOver: the services taken, joined (a
// union-find forest by ID) with those that share a name with them.
type closing struct {
	l      *layers
	now    *present
	ns     map[string]bool
	parent map[string]string
	taken  map[*group]bool
	from   string // the service whose names are being followed
	queue  []string
	roots  []string
	addrs  []netip.Addr
	key    []byte
}

func (c *closing) find(id string) string {
	for {
		p := c.parent[id]
		if p == id {
			return id
		}
		gp := c.parent[p]
		c.parent[id] = gp
		id = p
	}
}

// take takes the service with this ID, joined with c.from.
func (c *closing) take(id string) {
	if _, ok := c.parent[id]; !ok {
		c.parent[id] = id
		c.queue = append(c.queue, id)
	}
	if a, b := c.find(id), c.find(c.from); a != b {
		c.parent[a] = b
	}
}

// takeGroup takes every service of g.
func (c *closing) takeGroup(g *group) {
	if g != nil && !c.taken[g] {
		c.taken[g] = true
		for id := range g.members {
			c.take(id)
		}
	}
}

// addRoot takes the services with this name or alias, in the base or in
// a group.
func (c *closing) addRoot(root string) {
	bd, idx := c.l.baseData, c.l.index
	for _, o := range idx.roots[root] {
		id := bd.Services[o].ID
		c.take(id)
		c.takeGroup(c.l.groupOf[id])
	}
	c.takeGroup(c.l.rootGroup[root])
}

// addSharers takes the services with one of the addresses, in the base
// or in a group.
func (c *closing) addSharers(addrs []netip.Addr) {
	for _, a := range addrs {
		c.takeGroup(c.l.addrGroup[a])
		c.key = appendReverse(c.key[:0], a.Unmap())
		n, ok := c.l.base.Lookup(c.key)
		if !ok || n.views[0].PTR == nil {
			continue
		}
		ptr := n.views[0].PTR
		for i := range ptr.Len() {
			// The target is <service>.…: a service name has no dot.
			target := ptr.Info(i)
			c.addRoot(target[:max(strings.IndexByte(target, '.'), 0)])
		}
	}
}

// close takes what the queued services share names with, until none
// does.
func (c *closing) close() bool {
	bd, idx := c.l.baseData, c.l.index
	for len(c.queue) > 0 {
		id := c.queue[len(c.queue)-1]
		c.queue = c.queue[:len(c.queue)-1]
		c.from = id
		roots, addrs := c.roots[:0], c.addrs[:0]
		if o, ok := idx.services[id]; ok {
			roots = rootsOf(&bd.Services[o], roots)
			addrs = appendVIPs(addrs, &bd.Services[o])
		}
		for _, o := range idx.tasksOf[id] {
			addrs = appendAddrs(addrs, &bd.Tasks[o])
		}
		if c.now.ch.services[id] {
			v := c.now.version(id)
			if v.svc != nil {
				roots = rootsOf(v.svc, roots)
				addrs = appendVIPs(addrs, v.svc)
			}
			for _, t := range v.tasks {
				addrs = appendAddrs(addrs, t)
				// A task's names go with its ID: it may come from another
				// service.
				if o, ok := idx.tasks[t.ID]; ok && bd.Tasks[o].ServiceID != id {
					c.take(bd.Tasks[o].ServiceID)
					c.takeGroup(c.l.groupOf[bd.Tasks[o].ServiceID])
				}
			}
		}
		c.roots, c.addrs = roots, addrs
		for _, r := range roots {
			if !plainRoot(r) || idx.networks[r] || c.ns[r] {
				return false
			}
			c.addRoot(r)
		}
		c.addSharers(addrs)
	}
	return true
}

func appendAddrs(dst []netip.Addr, t *Task) []netip.Addr {
	for _, na := range t.Addresses {
		dst = append(dst, na.Addrs...)
	}
	return dst
}

func appendVIPs(dst []netip.Addr, svc *Service) []netip.Addr {
	for _, v := range svc.VirtualIPs {
		dst = append(dst, v.Addr)
	}
	return dst
}

// serviceNow returns the service with this ID in d, nil when there is
// none.
func (l *layers) serviceNow(d *Data, ch *change, id string) *Service {
	if i, ok := ch.newAt[id]; ok {
		if i < 0 {
			return nil
		}
		return &d.Services[i]
	}
	if o, ok := l.index.services[id]; ok {
		return &l.baseData.Services[o] // unchanged
	}
	return nil
}

package registry

import (
	"net/netip"
	"slices"
	"strings"
)

// How the Store publishes a change as an overlay over the last full build
// (overlay.go says how a layered snapshot answers):
//
//  1. Diff the Data against the base's by ID: the services that changed,
//     or one of whose tasks did (changedServices). A change to networks,
//     nodes or the local node, or to the configuration, builds in full.
//  2. Add every unchanged service that shares a service name or alias
//     with a changed one, old or new (closeOver), so that no name of the
//     overlay's services is a name of the others.
//  3. Build the overlay's services as they are now (the overlay) and as
//     they were in the base (to know the names they had), each with every
//     name in the name index.
//  4. Check what the closure cannot see (checkOverlay): a new name must
//     not be the base's already, the reverse name of an address the
//     services had must not be shared with another service, and a network
//     name's empty non-terminal must not go.
//  5. The layered snapshot is the base's indexes, the overlay with a
//     tombstone for each name the services had and have no more, and its
//     own apex (the serial).
//
// Anything the overlay cannot hold exactly builds in full. When the
// overlay grows past foldTasks, a full build of the newest Data runs in
// the background and becomes the next base (fold).

// Bounds on an overlay, in tasks of its services (old and new).
var (
	// foldTasks starts a background full build.
	foldTasks = 2048
	// maxLayerTasks builds in full at once.
	maxLayerTasks = 8192
)

// layers is the Store's state for layered publishing; the Store's mutex
// guards it.
type layers struct {
	base     *Snapshot // the last full build; nil: the next publish builds in full
	baseData *Data
	index    *dataIndex // of baseData, once made (see waitIndex)
	indexing *indexing
	// gen counts the bases; a fold that started under another is dropped.
	gen     uint64
	folding bool
	off     bool // every snapshot is built in full (for tests)
	// carried are services the next overlay holds whatever the diff says:
	// those of the published overlay, whose rotation may differ from the
	// base's (a service changed and changed back restarts its rotation,
	// as a full build would).
	carried map[string]bool
	// sinceFold are the services that changed since the fold under way
	// started; they are carried over the base it makes.
	sinceFold map[string]bool
}

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

// reset makes snap, a full build of d, the base; its index is made on
// another goroutine.
func (l *layers) reset(snap *Snapshot, d *Data, cfg Config) {
	if l.off {
		return
	}
	l.setBase(snap, d, startIndexing(d, snap, cfg))
}

func (l *layers) setBase(snap *Snapshot, d *Data, x *indexing) {
	l.gen++
	l.base, l.baseData, l.index, l.indexing = snap, d, nil, x
	l.carried = nil
}

// drop forgets the base: the next publish builds in full.
func (l *layers) drop() { l.setBase(nil, nil, nil) }

// waitIndex waits for the base's index.
func (l *layers) waitIndex() {
	if l.index == nil {
		<-l.indexing.done
		l.index = l.indexing.index
	}
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

// change is what differs between the base's Data and the Data to publish.
type change struct {
	// services are the IDs of the overlay's services (changed, and those
	// that share a name with one); newAt finds the changed ones in the
	// new Data, by ID, -1 for one removed.
	services map[string]bool
	newAt    map[string]int32
	// tasks counts the tasks of those services, old and new.
	tasks int
	// addrs are the addresses of the tasks added or changed.
	addrs []netip.Addr
	// runs are where the base's tasks are in the new Data, sorted by
	// their place in the base; moved are the places of the new Data's
	// tasks that are not in a run as they were (added, changed, moved).
	runs  []taskRun
	moved []int32
}

// changedServices diffs d against the base's Data by ID. ok is false when
// something beyond services and tasks changed, or an ID is there twice.
// Lists come mostly in the same order each time, so an object is first
// compared with the one at the same place in the base.
func (l *layers) changedServices(d *Data) (ch change, ok bool) {
	bd, idx := l.baseData, l.index
	if d.LocalNode != bd.LocalNode || !sameList(d.Networks, bd.Networks, SameNetwork) || !sameList(d.Nodes, bd.Nodes, SameNode) {
		return ch, false
	}
	ch = change{services: map[string]bool{}, newAt: map[string]int32{}}
	if len(d.Services) == len(bd.Services) && (len(d.Services) == 0 || &d.Services[0] == &bd.Services[0]) {
		l.changedTasks(d, &ch)
		return ch, true
	}
	seen := make([]bool, len(bd.Services))
	j := 0
	for i := range d.Services {
		svc := &d.Services[i]
		o, found := int32(j), j < len(bd.Services) && bd.Services[j].ID == svc.ID
		if !found {
			o, found = idx.services[svc.ID]
		}
		if _, dup := ch.newAt[svc.ID]; dup || (found && seen[o]) {
			return ch, false
		}
		if !found || !SameService(&bd.Services[o], svc) {
			ch.services[svc.ID] = true
			ch.newAt[svc.ID] = int32(i)
		}
		if found {
			seen[o], j = true, int(o)+1
		}
	}
	for o := range seen {
		if id := bd.Services[o].ID; !seen[o] {
			ch.services[id] = true
			ch.newAt[id] = -1 // removed
		}
	}
	l.changedTasks(d, &ch)
	return ch, true
}

// changedTasks adds to ch the services whose tasks changed: a task added,
// removed or changed, or its service's tasks in another order (their
// records come in the order of the data). It costs one comparison per
// task and allocates nothing while each task is where it was in the base;
// a task elsewhere costs a map lookup.
func (l *layers) changedTasks(d *Data, ch *change) {
	bt, nt, idx := l.baseData.Tasks, d.Tasks, l.index
	if len(bt) == len(nt) && (len(nt) == 0 || &bt[0] == &nt[0]) {
		ch.runs = []taskRun{{n: int32(len(nt))}}
		return
	}
	// j is where the next task is expected in the base, high the latest
	// place matched: while places only grow, every service's tasks keep
	// their order.
	j, high := 0, -1
	run := taskRun{}
	for i := range nt {
		t := &nt[i]
		o := j
		if j >= len(bt) || bt[j].ID != t.ID {
			p, found := idx.tasks[t.ID]
			if !found {
				ch.services[t.ServiceID] = true
				ch.addTask(i, t)
				continue
			}
			o = int(p)
			for k := j; k < o; k++ {
				ch.services[bt[k].ServiceID] = true // removed, or it comes later
			}
			if o <= high {
				ch.services[t.ServiceID] = true // out of order, or there twice
				ch.addTask(i, t)
			}
		}
		if run.n > 0 && int(run.base+run.n) == o && int(run.at+run.n) == i {
			run.n++
		} else {
			if run.n > 0 {
				ch.runs = append(ch.runs, run)
			}
			run = taskRun{base: int32(o), at: int32(i), n: 1}
		}
		if old := &bt[o]; !SameTask(old, t) {
			ch.services[t.ServiceID] = true
			ch.services[old.ServiceID] = true
			ch.addTask(i, t)
		}
		high, j = max(high, o), o+1
	}
	if run.n > 0 {
		ch.runs = append(ch.runs, run)
	}
	for k := j; k < len(bt); k++ {
		ch.services[bt[k].ServiceID] = true // removed, or it came earlier
	}
	slices.SortFunc(ch.runs, func(x, y taskRun) int { return int(x.base - y.base) })
}

// taskRun is a run of the base's tasks, base to base+n, that are the new
// Data's at to at+n.
type taskRun struct{ base, n, at int32 }

// addTask notes task t, at i in the new Data, added, changed or moved.
func (ch *change) addTask(i int, t *Task) {
	ch.moved = append(ch.moved, int32(i))
	ch.addrs = appendAddrs(ch.addrs, t)
}

// newPlace returns where the base's task at o is in the new Data, -1 if
// it is not in a run.
func (ch *change) newPlace(o int32) int32 {
	k, _ := slices.BinarySearchFunc(ch.runs, o, func(r taskRun, o int32) int {
		switch {
		case o < r.base:
			return 1
		case o >= r.base+r.n:
			return -1
		}
		return 0
	})
	if k < len(ch.runs) && ch.runs[k].base <= o && o < ch.runs[k].base+ch.runs[k].n {
		return ch.runs[k].at + o - ch.runs[k].base
	}
	return -1
}

// closeOver adds to the change every unchanged service that shares a
// name with one of its services, old or new, until none does: a service
// name or alias, or the reverse name of an address (found by the names
// its PTR records point to in the base). ok is false when a name of
// theirs could share names some other way (plainRoot).
func (l *layers) closeOver(d *Data, ch *change, cfg Config) bool {
	bd, idx := l.baseData, l.index
	ns := nameserverKeys(cfg)
	var queue, roots []string
	add := func(root string) {
		for _, o := range idx.roots[root] {
			if other := bd.Services[o].ID; !ch.services[other] {
				ch.services[other] = true
				queue = append(queue, other)
			}
		}
	}
	var key []byte
	sharers := func(addrs []netip.Addr) {
		for _, a := range addrs {
			key = appendReverse(key[:0], a.Unmap())
			n, ok := l.base.lookupBase(key)
			if !ok || n.views[0].PTR == nil {
				continue
			}
			ptr := n.views[0].PTR
			for i := range ptr.Len() {
				// The target is <service>.…: a service name has no dot.
				target := ptr.Info(i)
				add(target[:max(strings.IndexByte(target, '.'), 0)])
			}
		}
	}
	for id := range ch.services {
		queue = append(queue, id)
	}
	sharers(ch.addrs)
	var addrs []netip.Addr
	for len(queue) > 0 {
		id := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		roots, addrs = roots[:0], addrs[:0]
		if o, ok := idx.services[id]; ok {
			roots = rootsOf(&bd.Services[o], roots)
			addrs = appendVIPs(addrs, &bd.Services[o])
		}
		for _, o := range idx.tasksOf[id] {
			addrs = appendAddrs(addrs, &bd.Tasks[o])
		}
		if svc := l.serviceNow(d, ch, id); svc != nil {
			roots = rootsOf(svc, roots)
			addrs = appendVIPs(addrs, svc)
		}
		for _, r := range roots {
			if !plainRoot(r) || idx.networks[r] || ns[r] {
				return false
			}
			add(r)
		}
		sharers(addrs)
	}
	for id := range ch.services {
		ch.tasks += len(idx.tasksOf[id])
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

// subData returns the part of d the change's services are: them and
// their tasks, in their order, with every network and node.
func (l *layers) subData(d *Data, ch *change) *Data {
	sub := &Data{Networks: d.Networks, Nodes: d.Nodes, LocalNode: d.LocalNode}
	places := slices.Clone(ch.moved)
	for id := range ch.services {
		if svc := l.serviceNow(d, ch, id); svc != nil {
			sub.Services = append(sub.Services, *svc)
		}
		for _, o := range l.index.tasksOf[id] {
			if i := ch.newPlace(o); i >= 0 {
				places = append(places, i)
			}
		}
	}
	slices.Sort(places)
	places = slices.Compact(places)
	for _, i := range places {
		if t := &d.Tasks[i]; ch.services[t.ServiceID] {
			sub.Tasks = append(sub.Tasks, *t)
		}
	}
	return sub
}

// baseSubData is subData of the base's Data.
func (l *layers) baseSubData(ch *change) *Data {
	bd, idx := l.baseData, l.index
	sub := &Data{Networks: bd.Networks, Nodes: bd.Nodes, LocalNode: bd.LocalNode}
	for id := range ch.services {
		if o, ok := idx.services[id]; ok {
			sub.Services = append(sub.Services, bd.Services[o])
		}
		for _, o := range idx.tasksOf[id] {
			sub.Tasks = append(sub.Tasks, bd.Tasks[o])
		}
	}
	return sub
}

// layered builds the snapshot of d as an overlay over the base; ok is
// false when it must be built in full. cur is the published snapshot.
func (l *layers) layered(d *Data, cfg Config, cur *Snapshot) (*Snapshot, []error, bool) {
	if l.off || l.base == nil || cur == nil {
		return nil, nil, false
	}
	l.waitIndex()
	if !l.index.layerable {
		return nil, nil, false
	}
	ch, ok := l.changedServices(d)
	if !ok {
		return nil, nil, false
	}
	for id := range l.carried {
		ch.services[id] = true
	}
	if !l.closeOver(d, &ch, cfg) {
		return nil, nil, false
	}
	newData := l.subData(d, &ch)
	if ch.tasks += len(newData.Tasks); ch.tasks > maxLayerTasks {
		return nil, nil, false
	}
	sub := cfg
	sub.allNamesIndexed, sub.Serial = true, nil
	over, warnings := Build(newData, sub, cur)
	old, _ := Build(l.baseSubData(&ch), sub, nil)
	o, ok := l.checkOverlay(over, old, cfg)
	if !ok {
		return nil, nil, false
	}
	o.services, o.tasks = ch.services, ch.tasks
	s := l.assemble(d, o, old, cfg)
	if l.folding {
		l.stepChanges(cur, newData, ch.services)
	}
	l.carried = ch.services
	return s, warnings, true
}

// version is a service as an overlay builds it: the service and its
// running tasks, in order.
type version struct {
	svc   *Service
	tasks []*Task
}

func versionsOf(sub *Data) map[string]*version {
	vs := map[string]*version{}
	for i := range sub.Services {
		vs[sub.Services[i].ID] = &version{svc: &sub.Services[i]}
	}
	for i := range sub.Tasks {
		if t := &sub.Tasks[i]; t.State == TaskRunning {
			v := vs[t.ServiceID]
			if v == nil {
				v = &version{}
				vs[t.ServiceID] = v
			}
			v.tasks = append(v.tasks, t)
		}
	}
	return vs
}

// baseVersion is the service with this ID as the base has it.
func (l *layers) baseVersion(id string) *version {
	v := &version{}
	if o, ok := l.index.services[id]; ok {
		v.svc = &l.baseData.Services[o]
	}
	for _, o := range l.index.tasksOf[id] {
		v.tasks = append(v.tasks, &l.baseData.Tasks[o])
	}
	return v
}

func sameVersion(a, b *version) bool {
	if (a.svc == nil) != (b.svc == nil) || (a.svc != nil && !SameService(a.svc, b.svc)) || len(a.tasks) != len(b.tasks) {
		return false
	}
	for i := range a.tasks {
		if !SameTask(a.tasks[i], b.tasks[i]) {
			return false
		}
	}
	return true
}

// stepChanges adds to sinceFold the services, of the overlay's, whose
// version differs between the published snapshot cur and the overlay's
// Data next. An overlay's Data holds every service of the overlay that
// there is, with all its running tasks.
func (l *layers) stepChanges(cur *Snapshot, next *Data, services map[string]bool) {
	now := versionsOf(next)
	var prev map[string]*version
	if cur.over != nil {
		prev = versionsOf(cur.over.snap.Data)
	}
	for id := range services {
		a := l.baseVersion(id)
		if cur.over != nil && cur.over.services[id] {
			if a = prev[id]; a == nil {
				a = &version{} // removed
			}
		}
		b := now[id]
		if b == nil {
			b = &version{}
		}
		if !sameVersion(a, b) {
			l.sinceFold[id] = true
		}
	}
}

// checkOverlay makes the overlay of over, the change's services built as
// they are, and old, as they were in the base; ok is false when the
// overlay would not answer as a full build (see layers above).
func (l *layers) checkOverlay(over, old *Snapshot, cfg Config) (*overlay, bool) {
	base, nets, ns := l.base, l.index.networks, nameserverKeys(cfg)
	ox, nx := &old.index, &over.index
	for i := range nx.names {
		key := nx.key(&nx.names[i])
		if ns[string(key)] {
			return nil, false
		}
		if ox.find(key, nx.names[i].hash) >= 0 || nets[string(key)] {
			continue
		}
		if _, ok := base.lookupBase(key); ok {
			return nil, false // a name of another service, or another's address
		}
	}
	o := &overlay{base: base, snap: over, hidden: map[*RRSet]struct{}{}}
	real := len(nx.names)
	shadowed := make([]bool, real, real+len(ox.names))
	for i := range ox.names {
		e := &ox.names[i]
		key := ox.key(e)
		if ns[string(key)] {
			return nil, false
		}
		n := nx.find(key, e.hash)
		if n < 0 && nets[string(key)] {
			return nil, false // the network's empty non-terminal may stay or go
		}
		bn, inBase := base.lookupBase(key)
		if e.view != 0 && strings.HasSuffix(string(key), ".arpa") && ptrCount(bn) != ptrCount(old.name(int32(i))) {
			return nil, false // another service's address too
		}
		if inBase {
			for _, v := range bn.views {
				for _, set := range [...]*RRSet{v.A, v.AAAA, v.SRV, v.PTR} {
					if set != nil {
						o.hidden[set] = struct{}{}
					}
				}
			}
		}
		if n < 0 {
			// A tombstone: an entry with no view.
			off := uint32(len(nx.keys))
			nx.keys = append(nx.keys, key...)
			n = nx.insert(off, len(key), e.hash)
			shadowed = append(shadowed, false)
		}
		shadowed[n] = true
	}
	o.shadowed = shadowed
	for _, v := range base.apex {
		o.hidden[v.zone.ns], o.hidden[v.zone.soa] = struct{}{}, struct{}{}
	}
	for i := range over.nameservers {
		for _, set := range [...]*RRSet{over.nameservers[i].view[0].A, over.nameservers[i].view[0].AAAA} {
			if set != nil {
				o.hidden[set] = struct{}{}
			}
		}
	}
	return o, true
}

// ptrCount is the number of PTR records of a name's default view.
func ptrCount(n Name) int {
	if len(n.views) == 0 || n.views[0].PTR == nil {
		return 0
	}
	return n.views[0].PTR.Len()
}

// assemble makes the layered snapshot of d: the base's indexes, overlay
// o, and the overlay build's apex and serial.
func (l *layers) assemble(d *Data, o *overlay, old *Snapshot, cfg Config) *Snapshot {
	over, base := o.snap, l.base
	s := new(Snapshot)
	*s = *base
	s.over = o
	s.Serial, s.Built, s.Data = over.Serial, over.Built, d
	s.soa, s.any, s.apex = over.soa, over.any, over.apex
	s.stats = Stats{
		Services: len(d.Services),
		Tasks:    base.stats.Tasks - old.stats.Tasks + over.stats.Tasks,
		Names:    base.stats.Names - old.stats.Names + over.stats.Names,
	}
	if !sameList(d.Containers, l.baseData.Containers, SameContainer) {
		ingress := map[string]bool{}
		for _, n := range d.Networks {
			ingress[n.ID] = n.Ingress
		}
		s.setClients(d, func(id string) bool { return ingress[id] })
	}
	if cfg.Serial != nil {
		s.setSerial(cfg.Serial(s))
	}
	return s
}

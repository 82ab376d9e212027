package registry

import "net/netip"

// How the Store publishes a change as an overlay over the last full build
// (overlay.go says how a layered snapshot answers). The overlay is made of
// groups: services built together, on their own, as they are now and as
// they were in the base. A publish builds one new group, of what changed
// since the previous publish, and keeps the other groups as they are:
//
//  1. Diff the Data against the base's by ID: the services that changed
//     since the base (changedServices). A change to networks, nodes or
//     the local node, or to the configuration, builds in full.
//  2. The dirty services: those whose version (the service and its
//     running tasks) differs from the one their group was built of, those
//     changed since the base that are in no group yet, and those whose
//     group holds a changed version that went back to the base's.
//  3. Close over shared names (closeOver): add every service that shares
//     a service name or alias, or an address, with a dirty one, old or
//     new, in the base or in another group; a group one of them is in
//     comes whole. The closure is the new group; the groups it takes go.
//  4. Build the new group's services as they are now and as they were in
//     the base, each with every name in the name index, and check what
//     the closure cannot see (checkGroup): a new name must not be the
//     base's already nor another group's, the reverse name of an address
//     the services had must not be shared with another service, and a
//     network name's empty non-terminal must not go.
//  5. The layered snapshot is the base's indexes, the groups (the new one
//     with a tombstone for each name its services had and have no more),
//     their routes (layers_routes.go), and the new group's apex (the
//     serial).
//
// So a publish costs what changed since the previous one, whatever the
// overlay holds (but the diff of step 1, one comparison per task).
// Anything the overlay cannot hold exactly builds in full. When the
// overlay grows past foldTasks and past one foldShare-th of the base's
// tasks, a full build of the newest Data runs in the background and
// becomes the next base (fold): a fold costs about what a full build
// does, and comes once in a number of changes that grows with the
// registry, so its share of each change stays the same.

// Bounds on an overlay, in tasks of its services (old and new).
var (
	// foldTasks is the least overlay that starts a background full build.
	foldTasks = 2048
	// maxLayerTasks bounds the new groups of one publish: more builds in
	// full at once.
	maxLayerTasks = 8192
)

// foldShare: an overlay of more than one foldShare-th of the base's
// tasks (old and new, counted as foldTasks) starts a fold. Each task of
// the overlay costs about three times a task of the base in memory (two
// builds, every name indexed): a third of the base's memory at most.
const foldShare = 8

// foldAt is the overlay size, in tasks, that starts a fold over base.
func foldAt(base *Snapshot) int { return max(foldTasks, base.stats.Tasks/foldShare) }

// layers is the Store's state for layered publishing; the Store's mutex
// guards it. Nothing in it is reachable from a published snapshot but
// the base and the groups, which are immutable.
type layers struct {
	base     *Snapshot // the last full build; nil: the next publish builds in full
	baseData *Data
	index    *dataIndex // of baseData, once made (see waitIndex)
	indexing *indexing
	// gen counts the bases; a fold that started under another is dropped.
	gen     uint64
	seq     uint64 // of the last group committed
	folding bool
	off     bool // every snapshot is built in full (for tests)

	// The published overlay over base: its groups, their routes, and by
	// service ID, service name or alias and address (of the versions
	// built) the group that holds it.
	groups    []*group
	routes    routes
	groupOf   map[string]*group
	rootGroup map[string]*group
	addrGroup map[netip.Addr]*group

	// carried are services the next publish rebuilds whatever the diff
	// says: after a fold, those that changed since it started, whose
	// rotation may differ from the new base's (a service changed and
	// changed back restarts its rotation, as a full build would).
	carried map[string]bool
	// sinceFold are the services that changed since the fold under way
	// started; they are carried over the base it makes.
	sinceFold map[string]bool
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
	l.groups, l.routes = nil, routes{}
	l.groupOf, l.rootGroup, l.addrGroup = map[string]*group{}, map[string]*group{}, map[netip.Addr]*group{}
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
	now := newPresent(l, d, &ch)
	dirty := l.dirty(now)
	cls, ok := l.closeOver(now, dirty, cfg)
	tasks := 0
	for _, cl := range cls {
		tasks += cl.tasks
	}
	if !ok || tasks > maxLayerTasks {
		return nil, nil, false
	}
	sub := cfg
	sub.allNamesIndexed, sub.Serial = true, nil
	var (
		groups []*group
		taken  = map[*group]bool{}
	)
	for _, cl := range cls {
		for g := range cl.taken {
			taken[g] = true
		}
	}
	for _, cl := range cls {
		over, warned := Build(now.subData(cl.services), sub, cur)
		old, _ := Build(l.baseSubData(cl.services), sub, nil)
		g, ok := l.checkGroup(over, old, cfg, taken)
		if !ok {
			return nil, nil, false
		}
		g.tasks, g.warnings = cl.tasks, warned
		g.setMembers(l, now, cl)
		groups = append(groups, g)
	}
	if shared(groups, l.index.networks) {
		return nil, nil, false // a task ID two services have, new to them
	}
	// The apex, with the new serial, is the last group's, or an empty
	// build's when nothing is dirty.
	fresh := cur
	if len(groups) > 0 {
		fresh = groups[len(groups)-1].snap
	} else {
		fresh, _ = Build(&Data{Networks: d.Networks, Nodes: d.Nodes, LocalNode: d.LocalNode}, sub, cur)
	}
	l.commit(groups, taken)
	s := l.assemble(d, fresh, cfg)
	if l.folding {
		for id := range dirty {
			l.sinceFold[id] = true
		}
	}
	l.carried = nil
	// The warnings are those of the overlay's services, as before groups.
	var warnings []error
	for _, g := range l.groups {
		warnings = append(warnings, g.warnings...)
	}
	return s, warnings, true
}

// dirty returns the services the next group must hold: those whose
// version differs from the one their group holds (or, in no group, from
// the base's), and the carried ones.
func (l *layers) dirty(now *present) map[string]bool {
	dirty := map[string]bool{}
	for id := range now.ch.services {
		if g := l.groupOf[id]; g == nil || !now.same(id, g.members[id].version) {
			dirty[id] = true
		}
	}
	for id, g := range l.groupOf {
		if !now.ch.services[id] && !g.members[id].base {
			dirty[id] = true // back to the base's version
		}
	}
	for id := range l.carried {
		dirty[id] = true
	}
	return dirty
}

// setMembers makes the services of cl, as built in g, its members.
func (g *group) setMembers(l *layers, now *present, cl *closure) {
	// The versions kept are the group's own Data's, not the whole Data's.
	built := versionsOf(g.snap.Data)
	g.members = make(map[string]member, len(cl.services))
	for id := range cl.services {
		v := built[id]
		if v == nil {
			v = &version{}
		}
		base := !now.ch.services[id] || sameVersion(v, l.baseVersion(id))
		g.members[id] = member{version: v, base: base}
		if v.svc != nil {
			g.roots = rootsOf(v.svc, g.roots)
			g.addrs = appendVIPs(g.addrs, v.svc)
			for _, t := range v.tasks {
				g.addrs = appendAddrs(g.addrs, t)
			}
		}
	}
}

// commit makes the new groups groups of the overlay in place of those
// taken.
func (l *layers) commit(added []*group, taken map[*group]bool) {
	groups := make([]*group, 0, len(l.groups)+len(added))
	for _, o := range l.groups {
		if !taken[o] {
			groups = append(groups, o)
		}
	}
	for o := range taken {
		for id := range o.members {
			if l.groupOf[id] == o {
				delete(l.groupOf, id)
			}
		}
		for _, r := range o.roots {
			if l.rootGroup[r] == o {
				delete(l.rootGroup, r)
			}
		}
		for _, a := range o.addrs {
			if l.addrGroup[a] == o {
				delete(l.addrGroup, a)
			}
		}
	}
	var kept []*group
	for _, g := range added {
		if len(g.members) == 0 {
			continue
		}
		l.seq++
		g.seq = l.seq
		kept = append(kept, g)
		for id := range g.members {
			l.groupOf[id] = g
		}
		for _, r := range g.roots {
			l.rootGroup[r] = g
		}
		for _, a := range g.addrs {
			l.addrGroup[a] = g
		}
	}
	groups = append(groups, kept...)
	l.routes = l.routes.with(groups, taken, kept)
	l.groups = groups
}

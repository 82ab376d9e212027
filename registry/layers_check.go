package registry

import "strings"

// The checks of a new group, and the layered snapshot (see layers.go).

// checkGroup makes the group of over, the closure's services built as
// they are, and old, as they were in the base; ok is false when the
// overlay would not answer as a full build (see layers.go). taken are the
// groups it replaces.
func (l *layers) checkGroup(over, old *Snapshot, cfg Config, taken map[*group]bool) (*group, bool) {
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
		if _, ok := base.Lookup(key); ok {
			return nil, false // a name of another service, or another's address
		}
	}
	g := &group{snap: over, hidden: map[*RRSet]struct{}{}, dTasks: over.stats.Tasks - old.stats.Tasks, dNames: over.stats.Names - old.stats.Names}
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
		bn, inBase := base.Lookup(key)
		if e.view != 0 && strings.HasSuffix(string(key), ".arpa") && ptrCount(bn) != ptrCount(old.name(int32(i))) {
			return nil, false // another service's address too
		}
		if inBase {
			g.hide(bn.views)
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
	g.shadowed = shadowed
	// Another group must have none of the names: those of its services
	// now are the closure's only if they share one (it would have taken
	// the group), but a task's name goes with its ID.
	for i := range nx.names {
		key := nx.key(&nx.names[i])
		if !nets[string(key)] {
			if o, _ := l.routes.find(key, nx.names[i].hash, taken); o != nil {
				return nil, false
			}
		}
	}
	// The group's own apex and nameservers are not the snapshot's, but
	// for the newest group's apex (see eachRotated).
	g.hide(over.apex)
	for i := range over.nameservers {
		g.hide(over.nameservers[i].view)
	}
	return g, true
}

// hide adds the sets of the views to the group's hidden sets.
func (g *group) hide(views []View) {
	for _, v := range views {
		for _, set := range [...]*RRSet{v.A, v.AAAA, v.SRV, v.PTR} {
			if set != nil {
				g.hidden[set] = struct{}{}
			}
		}
		if v.zone != nil {
			g.hidden[v.zone.ns], g.hidden[v.zone.soa] = struct{}{}, struct{}{}
		}
	}
}

// ptrCount is the number of PTR records of a name's default view.
func ptrCount(n Name) int {
	if len(n.views) == 0 || n.views[0].PTR == nil {
		return 0
	}
	return n.views[0].PTR.Len()
}

// assemble makes the layered snapshot of d: the base's indexes, the
// overlay of the groups, and the apex and serial of over, the newest
// group's build.
func (l *layers) assemble(d *Data, over *Snapshot, cfg Config) *Snapshot {
	base := l.base
	o := &overlay{base: base, routes: l.routes, groups: l.groups, fresh: over}
	s := new(Snapshot)
	*s = *base
	s.over = o
	s.Serial, s.Built, s.Data = over.Serial, over.Built, d
	s.soa, s.any, s.apex = over.soa, over.any, over.apex
	s.stats = Stats{Services: len(d.Services), Tasks: base.stats.Tasks, Names: base.stats.Names}
	for _, g := range l.groups {
		o.tasks += g.tasks
		s.stats.Tasks += g.dTasks
		s.stats.Names += g.dNames
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

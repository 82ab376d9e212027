package registry

import "net/netip"

// A layered snapshot is a base, a full build, and an overlay: groups of
// the services that changed since the base was built, each group built
// on its own with every name in one small name index (layers.go makes
// them), and routes that find the group of a key (layers_routes.go). Its
// other fields are the base's; a group decides every name it has an
// entry for, and the base every other:
//
//   - an entry with views is the name's answer;
//   - an empty non-terminal of a group is the base's name if the base has
//     one there (a name of an unchanged service), else the empty
//     non-terminal;
//   - a key the group's services had in the base (shadowed) is never
//     looked up there: the group's name, its empty non-terminal, or no
//     name at all (a tombstone: an entry with no view).
//
// That is the answer of a full build because a group's services share no
// name with the others, in the base or in another group, except the
// empty non-terminals of network names (layers.go holds to it, or builds
// in full); such a key answers the same empty non-terminal from any
// group that has it.

// overlay is what a layered snapshot has over its base.
type overlay struct {
	base   *Snapshot
	routes routes
	groups []*group
	// fresh is the newest group's build: the snapshot's apex, and the
	// sets whose spread counters the Store makes on publishing.
	fresh *Snapshot
	// tasks counts the groups' tasks, as they are and as they were in
	// the base.
	tasks int
}

// group is services of the overlay built together; immutable once
// published, and kept by later snapshots while none of its services
// changes.
type group struct {
	// snap is the group's names, built with every name in its name
	// index, plus a tombstone for each name its services had in the base
	// and have no longer. Its views[0] is the empty view.
	snap *Snapshot
	// shadowed is, by entry of snap.index, whether the key was a name of
	// the group's services in the base.
	shadowed []bool
	// hidden are the base's sets the group replaces, and its own apex and
	// nameserver sets, which EachRotated leaves out.
	hidden map[*RRSet]struct{}
	// members are the group's services by ID, as built.
	members map[string]member
	// roots and addrs are the service names and aliases, and the
	// addresses, of the members as built.
	roots []string
	addrs []netip.Addr
	// tasks counts the members' tasks, as built and in the base; dTasks
	// and dNames are what the group adds to the base's counts.
	tasks, dTasks, dNames int
	// warnings are the build's, of the members' data.
	warnings []error
	// seq numbers the groups of a Store in the order they were committed:
	// an overlay's groups are in its order (OverlayKeysSince).
	seq uint64
}

// member is a service of a group: the version built, and whether it is
// the base's.
type member struct {
	version *version
	base    bool
}

// lookup is the overlay's part of Lookup: its routes, then one probe of
// a group's small index. decided is false when the base is to be asked;
// n is then the group's empty non-terminal, if it has one, for when the
// base has no name.
func (o *overlay) lookup(key []byte) (n Name, ok, decided bool) {
	g, i := o.routes.find(key, hashKey(key), nil)
	if g == nil {
		return Name{}, false, false
	}
	return g.decide(i)
}

// decide is the answer of the group's entry i.
func (g *group) decide(i int32) (n Name, ok, decided bool) {
	e := &g.snap.index.names[i]
	switch {
	case e.view != 0:
		return g.snap.name(i), true, true
	case !g.shadowed[i]:
		return Name{views: g.snap.views[0:1:1]}, true, false
	case e.nview == 0:
		return Name{}, false, true // a tombstone
	}
	return Name{views: g.snap.views[0:1:1]}, true, true
}

// has reports whether a group decides key.
func (o *overlay) has(key []byte) bool {
	g, _ := o.routes.find(key, hashKey(key), nil)
	return g != nil
}

// names is Names of the layered snapshot s: the base's names the groups
// leave to it, then the groups'.
func (o *overlay) names(s *Snapshot, fn func(key string, n Name)) {
	s.namesBase(func(key string, n Name) {
		if o.has([]byte(key)) {
			return
		}
		fn(key, n)
	})
	ents := map[string]bool{} // a network's name is in several groups
	for _, g := range o.groups {
		x := &g.snap.index
		for i := range x.names {
			e := &x.names[i]
			key := x.key(e)
			switch {
			case e.view != 0:
				fn(string(key), g.snap.name(int32(i)))
			case e.nview == 0 || ents[string(key)]:
			case g.shadowed[i]:
				ents[string(key)] = true
				fn(string(key), Name{views: g.snap.views[0:1:1]})
			default:
				ents[string(key)] = true
				if bn, ok := o.base.Lookup(key); ok {
					fn(string(key), bn)
				} else {
					fn(string(key), Name{views: g.snap.views[0:1:1]})
				}
			}
		}
	}
}

// eachRotated is EachRotated of the layered snapshot s: the base's sets
// no group replaces, the groups' own, then the apex's.
func (o *overlay) eachRotated(s *Snapshot, fn func(set *RRSet)) {
	hidden := map[*RRSet]struct{}{}
	for _, g := range o.groups {
		for set := range g.hidden {
			hidden[set] = struct{}{}
		}
	}
	for _, v := range o.base.apex {
		hidden[v.zone.ns], hidden[v.zone.soa] = struct{}{}, struct{}{}
	}
	for i := range o.base.sets {
		if set := &o.base.sets[i]; set.rot != 0 {
			if _, ok := hidden[set]; !ok {
				fn(set)
			}
		}
	}
	for _, g := range o.groups {
		for i := range g.snap.sets {
			if set := &g.snap.sets[i]; set.rot != 0 {
				if _, ok := g.hidden[set]; !ok {
					fn(set)
				}
			}
		}
	}
	for _, v := range s.apex {
		for _, set := range [...]*RRSet{v.zone.ns, v.zone.soa} {
			if set.rot != 0 {
				fn(set)
			}
		}
	}
}

// Base returns the full build a layered snapshot answers over; a full
// build is its own base.
func (s *Snapshot) Base() *Snapshot {
	if s.over != nil {
		return s.over.base
	}
	return s
}

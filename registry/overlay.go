package registry

// A layered snapshot is a base, a full build, and an overlay: the names
// of the services that changed since the base was built, built on their
// own with every name in one small name index (layers.go makes them). Its
// other fields are the base's; the overlay decides every name it has an
// entry for, and the base every other:
//
//   - an entry with views is the name's answer;
//   - an empty non-terminal of the overlay is the base's name if the
//     base has one there (a name of an unchanged service), else the empty
//     non-terminal;
//   - a key the changed services had in the base (shadowed) is never
//     looked up there: the overlay's name, its empty non-terminal, or no
//     name at all (a tombstone: an entry with no view).
//
// That is the answer of a full build because the changed services share
// no name with the others, except the empty non-terminals of network
// names (layers.go holds to it, or builds in full).

// overlay is what a layered snapshot has over its base.
type overlay struct {
	// snap is the changed services' names, built with every name in its
	// name index, plus a tombstone for each name they had in the base and
	// have no longer. Its views[0] is the empty view.
	snap *Snapshot
	// shadowed is, by entry of snap.index, whether the key was a name of
	// the changed services in the base.
	shadowed []bool
	// hidden are the base's sets the overlay replaces, which EachRotated
	// leaves out.
	hidden map[*RRSet]struct{}
	base   *Snapshot
	// services are the IDs of the services the overlay holds; tasks
	// counts their tasks, as they are and as they were in the base.
	services map[string]bool
	tasks    int
}

// lookup is the overlay's part of Lookup: one probe of its small index.
// decided is false when the base is to be asked; n is then the overlay's
// empty non-terminal, if it has one, for when the base has no name.
func (o *overlay) lookup(key []byte) (n Name, ok, decided bool) {
	x := &o.snap.index
	i := x.find(key, hashKey(key))
	if i < 0 {
		return Name{}, false, false
	}
	e := &x.names[i]
	switch {
	case e.view != 0:
		return o.snap.name(i), true, true
	case !o.shadowed[i]:
		return Name{views: o.snap.views[0:1:1]}, true, false
	case e.nview == 0:
		return Name{}, false, true // a tombstone
	}
	return Name{views: o.snap.views[0:1:1]}, true, true
}

// names is Names of the layered snapshot s: the base's names the overlay
// leaves to it, then the overlay's.
func (o *overlay) names(s *Snapshot, fn func(key string, n Name)) {
	x := &o.snap.index
	s.namesBase(func(key string, n Name) {
		if i := x.find([]byte(key), hashKey([]byte(key))); i >= 0 && (x.names[i].view != 0 || o.shadowed[i]) {
			return
		}
		fn(key, n)
	})
	for i := range x.names {
		e := &x.names[i]
		key := x.key(e)
		switch {
		case e.view != 0:
			fn(string(key), o.snap.name(int32(i)))
		case e.nview == 0:
		case o.shadowed[i]:
			fn(string(key), Name{views: o.snap.views[0:1:1]})
		default:
			if _, ok := o.base.Lookup(key); !ok {
				fn(string(key), Name{views: o.snap.views[0:1:1]})
			}
		}
	}
}

// eachRotated is EachRotated of the layered snapshot s.
func (o *overlay) eachRotated(s *Snapshot, fn func(set *RRSet)) {
	for i := range s.sets {
		if set := &s.sets[i]; set.rot != 0 {
			if _, ok := o.hidden[set]; !ok {
				fn(set)
			}
		}
	}
	for i := range o.snap.sets {
		if set := &o.snap.sets[i]; set.rot != 0 {
			if _, ok := o.hidden[set]; !ok {
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

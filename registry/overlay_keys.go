package registry

// OverlayKeysSince calls fn with every key at which s may answer other
// than p, another snapshot over the same base (Base), earlier or later,
// the base itself included: each name of the services one of them holds
// in its overlay and the other does not hold as the same build, as they
// are and as they were in the base, and their empty non-terminals. A
// group a publish keeps is the same in both, so the keys cost what changed
// between p and s, not what changed since the base. At every other key
// s's Name is p's, so a consumer that keeps something per name (the
// transferred zones) can derive it for s from what it has of p and these
// keys alone. A key may come more than once. It returns false, without
// calling fn, when it cannot tell: p is nil or over another base (a full
// build since, or a fold).
func (s *Snapshot) OverlayKeysSince(p *Snapshot, fn func(key string)) bool {
	if p == nil || s.Base() != p.Base() {
		return false
	}
	var now, then []*group
	if s.over != nil {
		now = s.over.groups
	}
	if p.over != nil {
		then = p.over.groups
	}
	// Both lists are in the order of seq (commit keeps the groups it does
	// not take in order and adds the new ones last): a merge finds the
	// groups only one of them has.
	for len(now) > 0 || len(then) > 0 {
		switch {
		case len(then) == 0 || len(now) > 0 && now[0].seq < then[0].seq:
			now[0].keys(fn)
			now = now[1:]
		case len(now) == 0 || then[0].seq < now[0].seq:
			then[0].keys(fn)
			then = then[1:]
		default:
			now, then = now[1:], then[1:]
		}
	}
	return true
}

// keys calls fn with the key of every entry of the group's index.
func (g *group) keys(fn func(key string)) {
	x := &g.snap.index
	for i := range x.names {
		fn(string(x.key(&x.names[i])))
	}
}

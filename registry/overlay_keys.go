package registry

// OverlayKeys calls fn with every key at which a layered snapshot may
// answer other than its base (Base): each name of the services its
// overlay holds, as they are and as they were in the base, and their
// empty non-terminals. At every other key the snapshot's Name is the
// base's, so a consumer that keeps something per name (the transferred
// zones) can derive it for this snapshot from what it has of the base
// and these keys alone. A full build has no such key.
func (s *Snapshot) OverlayKeys(fn func(key string)) {
	if s.over == nil {
		return
	}
	for _, g := range s.over.groups {
		x := &g.snap.index
		for i := range x.names {
			fn(string(x.key(&x.names[i])))
		}
	}
}

package registry

import "strings"

// The checks of an overlay, and the layered snapshot (see layers.go).

// checkOverlay makes the overlay of over, the change's services built as
// they are, and old, as they were in the base; ok is false when the
// overlay would not answer as a full build (see layers.go).
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
		if _, ok := base.Lookup(key); ok {
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
		bn, inBase := base.Lookup(key)
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

package registry

import (
	"encoding/binary"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/scheduler"
)

// The packer's set packing: a collector's A and AAAA, SRV and PTR records
// into RRSets in the packer's record table, each with its policy compiled
// and its rotation carried over from the previous snapshot.

// sharedKey identifies a record slice packed once for several names (see
// packer.shared).
type sharedKey struct {
	addrs uint32 // recsRef.off + 1
	srvs  *srvRec
	n     int
	ttl   uint32
	pol   uint8
	typ   uint16
}

// addrSets packs the A and AAAA sets of a collector. A task's one address
// answers under its name, its slot and its network-scoped name, collected
// from the same record: it is packed once, into one RRSet (a set of one
// record has no rotation to keep apart). A larger record slice shared by
// several names is packed once too, each name's RRSet keeping its own
// rotation.
func (p *packer) addrSets(sb *collector, n int32, network int32) (a, aaaa int32) {
	addrs := p.collected.recs(sb.addrs)
	if len(addrs) == 1 {
		return p.singleAddrSet(sb, &addrs[0], n, network)
	}
	key := sharedKey{addrs: sb.addrs.off + 1, n: len(addrs), ttl: sb.ttl, pol: sb.pol, typ: dns.TypeA}
	if s, ok := p.shared[key]; ok {
		a = p.clone(s, n, network)
		key.typ = dns.TypeAAAA
		return a, p.clone(p.shared[key], n, network)
	}
	// Split by family, first occurrence of each address kept, in order.
	v4, v6 := p.scratch.v4[:0], p.scratch.v6[:0]
	if len(addrs) > smallSet {
		if p.scratch.seen == nil {
			p.scratch.seen = make(map[[16]byte]struct{})
		}
		clear(p.scratch.seen)
	}
	for i, r := range addrs {
		if len(addrs) > smallSet {
			if _, dup := p.scratch.seen[r.ip]; dup {
				continue
			}
			p.scratch.seen[r.ip] = struct{}{}
		} else if hasAddr(addrs[:i], &r) {
			continue
		}
		if r.is4 {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	p.scratch.v4, p.scratch.v6 = v4, v6
	a = p.addrSet(dns.TypeA, v4, sb, n, network)
	aaaa = p.addrSet(dns.TypeAAAA, v6, sb, n, network)
	p.shared[key] = a
	key.typ = dns.TypeAAAA
	p.shared[key] = aaaa
	return a, aaaa
}

// singleAddrSet packs the set of a collector of one address record, src,
// or finds it packed already.
func (p *packer) singleAddrSet(sb *collector, src *addrRec, n int32, network int32) (a, aaaa int32) {
	if single := p.single(sb.addrs.off); single > 0 {
		rs := &p.sets[single-1]
		if rs.TTL == sb.ttl && p.policies.names[rs.pol] == p.policies.asked[sb.pol] {
			if rs.Type == dns.TypeA {
				return single - 1, -1
			}
			return -1, single - 1
		}
	}
	t := dns.TypeA
	if !src.is4 {
		t = dns.TypeAAAA
	}
	s := p.addrSet(t, p.collected.recs(sb.addrs), sb, n, network)
	p.setSingle(sb.addrs.off, s+1)
	if t == dns.TypeA {
		return s, -1
	}
	return -1, s
}

// clone returns a new RRSet with the records of set s (-1: none) and the
// rotation of name n in network's view.
func (p *packer) clone(s, n int32, network int32) int32 {
	if s < 0 {
		return -1
	}
	rs := p.sets[s]
	if rs.rot != 0 {
		rot := p.tab.rots[rs.rot-1]
		rot.state = p.carry(n, network, rs.Type, rs.print)
		p.tab.rots = append(p.tab.rots, rot)
		rs.rot = uint32(len(p.tab.rots))
	}
	return p.addSet(rs)
}

// smallSet is the size up to which a linear scan beats a map for
// duplicates.
const smallSet = 32

func hasAddr(recs []addrRec, a *addrRec) bool {
	for i := range recs {
		if recs[i].ip == a.ip {
			return true
		}
	}
	return false
}

func (p *packer) addrSet(t uint16, recs []addrRec, sb *collector, n int32, network int32) int32 {
	if len(recs) == 0 {
		return -1
	}
	first := len(p.tab.recs)
	var local []locality // nil while every record is elsewhere
	for i, r := range recs {
		off := len(p.tab.bytes)
		p.tab.bytes = packAddr(p.tab.bytes, sb.ttl, r.addr())
		p.tab.recs = append(p.tab.recs, rec{off: uint32(off), n: uint16(len(p.tab.bytes) - off), weight: r.weight, info: r.info})
		if r.local != elsewhere && local == nil {
			local = p.scratchLocal(len(recs))
		}
		if local != nil {
			local[i] = r.local
		}
	}
	return p.finish(t, sb.ttl, first, p.policies.asked[sb.pol], p.maxAnswers, local, n, network)
}

func (p *packer) srvSet(sb *collector, srvs []srvRec, n int32, network int32) int32 {
	key := sharedKey{srvs: &srvs[0], n: len(srvs), ttl: sb.ttl, pol: sb.pol, typ: dns.TypeSRV}
	if s, ok := p.shared[key]; ok {
		return p.clone(s, n, network)
	}
	first := len(p.tab.recs)
	local := p.scratchLocal(len(srvs))[:0]
	big := len(srvs) > smallSet
	if big {
		if p.scratch.srvSeen == nil {
			p.scratch.srvSeen = make(map[srvKey]struct{})
		}
		clear(p.scratch.srvSeen)
	}
	for i, r := range srvs {
		k := srvKey{r.task, r.port}
		if big {
			if _, dup := p.scratch.srvSeen[k]; dup {
				continue
			}
			p.scratch.srvSeen[k] = struct{}{}
		} else if hasSRV(srvs[:i], k) {
			continue
		}
		prio := p.srvPriority[r.local]
		// The target, the task's name in the zone, packed.
		target := packLabels(p.scratch.key[:0], p.collected.refKey(p.collected.ref(r.task)))
		target = append(target, p.domain...)
		p.scratch.key = target
		off := len(p.tab.bytes)
		p.tab.bytes = packSRV(p.tab.bytes, sb.ttl, prio, uint16(min(r.weight, 65535)), r.port, target)
		e := rec{off: uint32(off), n: uint16(len(p.tab.bytes) - off), weight: r.weight, info: r.info}
		e.extra = uint32(len(p.tab.bytes))
		for _, a := range r.glue {
			p.tab.bytes = packGlue(p.tab.bytes, sb.ttl, target, a.Unmap())
		}
		e.xn, e.xc = uint16(len(p.tab.bytes)-int(e.extra)), uint16(len(r.glue))
		p.tab.recs = append(p.tab.recs, e)
		local = append(local, r.local)
	}
	p.reduceSRVWeights(p.tab.recs[first:], local)
	s := p.finish(dns.TypeSRV, sb.ttl, first, p.policies.asked[sb.pol], p.maxAnswers, local, n, network)
	p.shared[key] = s
	return s
}

func hasSRV(recs []srvRec, k srvKey) bool {
	for i := range recs {
		if recs[i].port == k.port && recs[i].task == k.task {
			return true
		}
	}
	return false
}

func (p *packer) ptrSet(sb *collector, n int32, network int32) int32 {
	first := len(p.tab.recs)
	p.scratch.ptrs = p.collected.ptrsOf(sb, p.scratch.ptrs[:0])
	for _, t := range p.scratch.ptrs {
		off := len(p.tab.bytes)
		p.tab.bytes = packPTR(p.tab.bytes, sb.ttl, p.collected.refKey(t))
		p.tab.recs = append(p.tab.recs, rec{off: uint32(off), n: uint16(len(p.tab.bytes) - off), weight: 1, info: infoTarget})
	}
	return p.finish(dns.TypePTR, sb.ttl, first, p.policies.asked[sb.pol], 0, nil, n, network)
}

// finish ends the set whose records are tab.recs[first:]: it drains
// zero-weight records, compiles the scheduler and carries the rotation
// state over from the previous snapshot when nothing changed. It returns
// the set's number.
func (p *packer) finish(t uint16, ttl uint32, first int, policyName string, limit int, local []locality, n int32, network int32) int32 {
	recs := p.tab.recs[first:]
	anyWeight := false
	for i := range recs {
		anyWeight = anyWeight || recs[i].weight > 0
	}
	if anyWeight {
		// Weight 0 drains a record, unless nothing else is left.
		keep := 0
		for i := range recs {
			if recs[i].weight == 0 {
				continue
			}
			recs[keep] = recs[i]
			if local != nil {
				local[keep] = local[i]
			}
			keep++
		}
		recs = recs[:keep]
		p.tab.recs = p.tab.recs[:first+keep]
		if local != nil {
			local = local[:keep]
		}
	} else {
		for i := range recs {
			recs[i].weight = 1
		}
	}
	if p.lastPolicy.asked != policyName || p.lastPolicy.policy == nil {
		p.lastPolicy = lastPolicy{asked: policyName, resolvedPolicy: p.policies.resolve(policyName)}
	}
	pol := &p.lastPolicy
	rs := RRSet{Type: t, TTL: ttl, tab: p.tab, first: uint32(first), n: uint32(len(recs)), limit: int32(min(limit, 1<<30)), pol: pol.idx}
	rs.print = fingerprint(pol.name, p.tab.bytes, recs, local)
	if len(recs) > 1 {
		weights := takeN(&p.weights, len(recs))
		for i := range recs {
			weights[i] = recs[i].weight
		}
		p.tab.rots = append(p.tab.rots, rotation{order: compileGroups(pol.policy, weights, local), state: p.carry(n, network, t, rs.print)})
		rs.rot = uint32(len(p.tab.rots))
	}
	return p.addSet(rs)
}

func (p *packer) addSet(rs RRSet) int32 {
	p.sets = append(p.sets, rs)
	p.setView = append(p.setView, -1)
	return int32(len(p.sets) - 1)
}

// carry returns the rotation state of the set of type t in network's view
// of name n in the previous snapshot when its fingerprint is print, or a
// new state.
func (p *packer) carry(n int32, network int32, t uint16, print uint64) *scheduler.State {
	if p.prev != nil && n >= 0 {
		c := p.collected
		if p.prevAt.num != n {
			p.prevAt.num = n
			p.prevAt.name = p.prevLookup(c.index.key(&c.index.names[n]))
		}
		var pv *View
		for i := range p.prevAt.name.views {
			if p.prevAt.name.views[i].Network == c.networks[network] {
				pv = &p.prevAt.name.views[i]
			}
		}
		if pv != nil {
			if s := pv.Set(t); s != nil && s.print == print && s.state() != nil {
				return s.state()
			}
		}
	}
	return newState(&p.states)
}

// prevLookup finds key in the previous snapshot. Names come in the same
// order build after build, so it first tries the name after the one it
// found last, which spares a hash probe in a large index.
func (p *packer) prevLookup(key []byte) Name {
	if o := p.prev.over; o != nil && o.has(key) {
		n, _ := p.prev.Lookup(key) // the overlay decides this name
		return n
	}
	x := &p.prev.index
	if c := int(p.prevAt.next); c < len(x.names) && !x.names[c].unindexed && x.names[c].view != 0 && string(x.key(&x.names[c])) == string(key) {
		p.prevAt.next++
		return p.prev.name(int32(c))
	}
	if i := x.find(key, hashKey(key)); i >= 0 && x.names[i].view != 0 {
		p.prevAt.next = i + 1
		return p.prev.name(i)
	}
	n, _ := p.prev.Lookup(key)
	return n
}

// newState returns a new rotation state from *chunk. States come in small
// chunks: a later snapshot may keep one, and with it its chunk.
func newState(chunk *[]scheduler.State) *scheduler.State {
	if len(*chunk) == 0 {
		*chunk = make([]scheduler.State, 64)
	}
	st := &(*chunk)[0]
	*chunk = (*chunk)[1:]
	return st
}

// scratchLocal returns n localities, all elsewhere, reused from set to
// set (finish reads them and keeps nothing).
func (p *packer) scratchLocal(n int) []locality {
	if cap(p.scratch.local) < n {
		p.scratch.local = make([]locality, n)
	}
	l := p.scratch.local[:n]
	clear(l)
	return l
}

// compileGroups compiles the policy over all records, or over each tier
// of locality separately, nearest first, when the records are in more
// than one.
func compileGroups(policy scheduler.Policy, weights []uint32, local []locality) scheduler.Orderer {
	var count [len(tiers)]int
	for _, l := range local {
		count[l]++
	}
	if local == nil || count[thisNode] == len(weights) || count[sameLabel] == len(weights) || count[elsewhere] == len(weights) {
		return policy.Compile(weights)
	}
	var groups []scheduler.Group
	for _, t := range tiers {
		if count[t] == 0 {
			continue
		}
		g, w := make([]int, 0, count[t]), make([]uint32, 0, count[t])
		for i, l := range local {
			if l == t {
				g, w = append(g, i), append(w, weights[i])
			}
		}
		groups = append(groups, scheduler.Group{Indices: g, Orderer: policy.Compile(w)})
	}
	return scheduler.Grouped(groups...)
}

// fingerprint identifies a set's content for rotation carry-over and for
// telling views apart: a hash of the policy, and of each record with its
// weight and locality, taken eight bytes at a time.
func fingerprint(policy string, bytes []byte, recs []rec, local []locality) uint64 {
	h := printWords(printSeed, []byte(policy))
	for i := range recs {
		h = printWords(h, bytes[recs[i].off:recs[i].off+uint32(recs[i].n)])
		// The weight's 32 bits above a bit for this node, and a bit for
		// the label's tier above them.
		w := uint64(recs[i].weight) << 1
		if local != nil && local[i] == thisNode {
			w |= 1
		} else if local != nil && local[i] == sameLabel {
			w |= 1 << 33
		}
		h = printMix(h, w)
	}
	return h
}

const printSeed = 14695981039346656037

// printMix folds word v into hash h.
func printMix(h, v uint64) uint64 {
	h = (h ^ v) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}

// printWords folds p, and its length, into h.
func printWords(h uint64, p []byte) uint64 {
	h = printMix(h, uint64(len(p)))
	for ; len(p) >= 8; p = p[8:] {
		h = printMix(h, binary.LittleEndian.Uint64(p))
	}
	var tail uint64
	for i, c := range p {
		tail |= uint64(c) << (8 * i)
	}
	return printMix(h, tail)
}

// apex packs the zone's SOA and NS, the nameservers' addresses and the
// answer to ANY.
func (b *builder) apex(s *Snapshot) {
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: b.cfg.Domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: b.cfg.TTL},
		Ns:      b.cfg.nameservers()[0].Name,
		Mbox:    "hostmaster." + b.cfg.Domain,
		Serial:  s.Serial,
		Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire,
		Minttl: b.cfg.TTL,
	}
	// The domain passed Config.Check, so these records always pack.
	s.soa, _ = packFull(soa)
	s.any = packOwnerless(&dns.HINFO{Hdr: dns.RR_Header{Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: b.cfg.TTL}, Cpu: "RFC8482"})
	first := len(b.tab.recs)
	off := len(b.tab.bytes)
	b.tab.bytes = append(b.tab.bytes, packOwnerless(soa)...)
	b.tab.recs = append(b.tab.recs, rec{off: uint32(off), n: uint16(len(b.tab.bytes) - off), weight: 1, info: infoSOA})
	b.apexSOA = b.finish(dns.TypeSOA, b.cfg.TTL, first, scheduler.RoundRobin, 0, nil, -1, 0)
	b.apexNS = b.apexNameservers()
}

// publish hands the index, the sets and the views to the snapshot, the
// views pointing at their sets.
func (b *builder) publish(s *Snapshot) {
	idx := &b.collected.index
	idx.names, idx.keys = trim(idx.names), trim(idx.keys)
	b.tab.recs, b.tab.bytes = trim(b.tab.recs), trim(b.tab.bytes)
	b.tab.policies = b.policies.names
	s.index, s.sets = *idx, trim(b.sets)
	set := func(i int32) *RRSet {
		if i < 0 {
			return nil
		}
		return &s.sets[i]
	}
	s.views = make([]View, len(b.packedViews))
	for i := range b.packedViews {
		x := &b.packedViews[i]
		s.views[i] = View{Network: b.collected.networks[x.network], A: set(x.a), AAAA: set(x.aaaa), SRV: set(x.srv), PTR: set(x.ptr)}
	}
	s.apex = []View{{zone: &zoneSets{ns: set(b.apexNS), soa: set(b.apexSOA)}}}
	b.publishNameservers(s, set)
}

// trim returns s without much unused capacity, which a snapshot would
// otherwise keep as long as it lives.
func trim[T any](s []T) []T {
	if cap(s)-len(s) <= len(s)/8 {
		return s
	}
	return append(make([]T, 0, len(s)), s...)
}

package registry

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/scheduler"
)

// packer packs collected names into RRSets and views. The builder is one
// (it embeds it) and packs into the snapshot's own record table; with many
// names a second packer, on another goroutine, packs the second half into
// tables of its own (see packNames). Both read the collection and the
// policy table and write only their own fields and the views of the names
// they pack.
type packer struct {
	// What it packs from: shared, and only read.
	collected   *collection
	policies    *policyTable
	prev        *Snapshot
	domain      []byte // the zone in wire format
	maxAnswers  int
	preferLocal bool // Config.PreferLocal, with a local node known

	// What it packs into.
	tab         *table
	sets        []RRSet
	setView     []int32 // by set: the view that holds the set alone, or -1
	packedViews []packedView
	// shared is the packed A, AAAA or SRV set of a record slice, by the
	// slice: the same records under several names (a service and its
	// tasks name, each in two views) are packed once.
	shared map[sharedKey]int32
	// singles are, by arena offset, the packed set of that record alone,
	// +1 (see addrSets).
	singles []int32
	weights []uint32          // chunk (see takeN)
	states  []scheduler.State // chunk (see newState)

	lastPolicy lastPolicy // the policy finish used last
	prevAt     prevCursor
	scratch    packScratch
}

// packScratch is reused from name to name.
type packScratch struct {
	netViews []int32
	v4, v6   []addrRec
	local    []bool
	ptrs     []keyRef
	key      []byte
	seen     map[[16]byte]struct{}
	srvSeen  map[srvKey]struct{}
}

// lastPolicy is the policy finish resolved last, by the name it was asked.
type lastPolicy struct {
	asked string
	resolvedPolicy
}

// prevCursor is where the packer is in the previous snapshot.
type prevCursor struct {
	num  int32 // the name whose previous views name holds, -1 for none
	name Name
	next int32 // the name of prev after the one prevLookup found last
}

// packedView is a packed view whose RRSets are numbers in packer.sets
// (-1: none); publish turns it into a View.
type packedView struct {
	network           int32 // view number
	a, aaaa, srv, ptr int32
}

var noView = packedView{a: -1, aaaa: -1, srv: -1, ptr: -1}

type sharedKey struct {
	addrs uint32 // recsRef.off + 1
	srvs  *srvRec
	n     int
	ttl   uint32
	pol   uint8
	typ   uint16
}

// parallelPackMin is the number of names from which packNames packs in
// two halves at once.
var parallelPackMin = 4096

// packNames packs the views of every collected name. With many names, a
// second packer packs the second half on another goroutine; its sets and
// views then join the builder's.
func (b *builder) packNames() {
	<-b.tablesMade
	end := len(b.collected.names)
	if end < parallelPackMin {
		b.packRange(0, end)
		return
	}
	mid := end / 2
	second := b.secondPacker()
	done := make(chan struct{})
	go func() {
		defer close(done)
		second.packRange(mid, end)
	}()
	b.packRange(0, mid)
	<-done
	b.mergeSecond(second, mid, end)
}

// secondPacker returns a packer of its own tables that shares what
// packing only reads: the collection, the key arena and the policies
// (every policy collectors name is looked up as it is named, so neither
// packer adds to them).
func (b *builder) secondPacker() *packer {
	// Sized for half of the service-level names of a build with task
	// indexes: a task's record in its tasks set and its SRV record with
	// glue; a service's three or four sets with rotation.
	t, s := len(b.data.Tasks), len(b.data.Services)
	return &packer{
		collected:   b.packer.collected,
		policies:    b.packer.policies,
		prev:        b.prev,
		domain:      b.domain,
		maxAnswers:  b.maxAnswers,
		preferLocal: b.preferLocal,
		tab: &table{
			bytes: make([]byte, 0, 56*t+32*s+1024),
			recs:  make([]rec, 0, t+s+16),
			rots:  make([]rotation, 0, 3*s+16),
		},
		sets:        make([]RRSet, 0, 4*s+16),
		setView:     make([]int32, 0, 4*s+16),
		packedViews: make([]packedView, 0, 3*s+16),
		shared:      make(map[sharedKey]int32),
		prevAt:      prevCursor{num: -1},
		scratch:     packScratch{key: make([]byte, 0, keyScratch)},
	}
}

// mergeSecond adds what the second packer packed, the names from to end.
func (p *packer) mergeSecond(second *packer, from, end int) {
	setBase, viewBase := p.appendPacked(second.tab, second.sets), int32(len(p.packedViews))
	shift := func(s int32) int32 {
		if s < 0 {
			return s
		}
		return s + setBase
	}
	for _, v := range second.packedViews {
		v.a, v.aaaa, v.srv, v.ptr = shift(v.a), shift(v.aaaa), shift(v.srv), shift(v.ptr)
		p.packedViews = append(p.packedViews, v)
	}
	c := p.collected
	for n := from; n < end; n++ {
		if !c.names[n].packed {
			c.index.names[n].view += uint32(viewBase)
		}
	}
}

// appendPacked appends sets packed into a table of their own (on another
// goroutine) to the packer's sets, and returns the number the first of
// them now has. The sets keep their table: a snapshot's sets may point
// into several, whose records need not move. Each table gets the
// builder's task IDs and policy names, which the sets' records and
// policies are numbered by.
func (p *packer) appendPacked(tab *table, sets []RRSet) int32 {
	tab.bytes, tab.recs = trim(tab.bytes), trim(tab.recs)
	tab.infos, tab.policies = p.tab.infos, p.policies.names
	setBase := int32(len(p.sets))
	for _, rs := range sets {
		rs.tab = tab
		p.addSet(rs)
	}
	return setBase
}

func (p *packer) packRange(from, to int) {
	for n := from; n < to; n++ {
		if !p.collected.names[n].packed {
			p.packName(int32(n))
		}
	}
}

func (p *packer) packName(n int32) {
	c := p.collected
	def := int32(-1)
	nets := p.scratch.netViews[:0]
	for v := c.names[n].head; v >= 0; v = c.views[v].next {
		if c.views[v].network == 0 {
			def = c.views[v].collector
		} else {
			nets = append(nets, v)
		}
	}
	p.scratch.netViews = nets
	e := &c.index.names[n]
	if len(nets) == 0 && def >= 0 {
		// The common case, a task's slot or network-scoped name: one
		// record, packed already under the task's name, whose view it
		// shares.
		if v := p.sharedSingleView(&c.collectors[def]); v >= 0 {
			e.view, e.nview = uint32(v), 1
			return
		}
	}
	first := int32(len(p.packedViews))
	dv := p.view(n, 0, def)
	if len(nets) == 0 {
		// A name whose one view is one set: names sharing that set (a
		// task's name, slot and network-scoped name) share the view.
		if s := dv.alone(); s >= 0 {
			if v := p.setView[s]; v >= 0 {
				e.view, e.nview = uint32(v), 1
				return
			}
			p.setView[s] = first
		}
		p.packedViews = append(p.packedViews, dv)
		e.view, e.nview = uint32(first), 1
		return
	}
	// A name that only has network views (a service outside the
	// --network restriction) gets an empty default view.
	p.packedViews = append(p.packedViews, dv)
	slices.SortFunc(nets, func(x, y int32) int {
		return strings.Compare(c.networks[c.views[x].network], c.networks[c.views[y].network])
	})
	for _, v := range nets {
		cv := c.views[v]
		if def >= 0 && p.sameSet(&c.collectors[def], &c.collectors[cv.collector]) {
			continue // packs to the default view; sameView would drop it
		}
		x := p.view(n, cv.network, cv.collector)
		if !p.sameView(&x, &p.packedViews[first]) {
			p.packedViews = append(p.packedViews, x)
		}
	}
	e = &c.index.names[n]
	e.view, e.nview = uint32(first), uint16(int32(len(p.packedViews))-first)
	if e.nview == 1 && def >= 0 {
		if s := p.packedViews[first].alone(); s >= 0 {
			if v := p.setView[s]; v >= 0 {
				p.packedViews = p.packedViews[:first]
				e.view = uint32(v)
			} else {
				p.setView[s] = first
			}
		}
	}
}

// single returns the packed set of the address record at arena offset
// off alone, +1, or 0.
func (p *packer) single(off uint32) int32 {
	if int(off) < len(p.singles) {
		return p.singles[off]
	}
	return 0
}

func (p *packer) setSingle(off uint32, s int32) {
	if int(off) >= len(p.singles) {
		p.singles = append(p.singles, make([]int32, max(int(off)+1, len(p.collected.arena))-len(p.singles))...)
	}
	p.singles[off] = s
}

// sharedSingleView returns the view that holds alone the set a collector
// of one address record would pack to, if there is one already; else -1.
func (p *packer) sharedSingleView(sb *collector) int32 {
	if sb.addrs.n != 1 || sb.extra != 0 || sb.ptr.n != 0 {
		return -1
	}
	single := p.single(sb.addrs.off)
	if single == 0 {
		return -1
	}
	rs := &p.sets[single-1]
	if rs.TTL != sb.ttl || p.policies.names[rs.pol] != p.policies.asked[sb.pol] {
		return -1
	}
	return p.setView[single-1]
}

// alone returns the one set of a default view that has one, else -1.
func (v *packedView) alone() int32 {
	if v.network != 0 {
		return -1
	}
	one := int32(-1)
	for _, s := range [4]int32{v.a, v.aaaa, v.srv, v.ptr} {
		if s >= 0 {
			if one >= 0 {
				return -1
			}
			one = s
		}
	}
	return one
}

func (p *packer) sameView(x, y *packedView) bool {
	same := func(a, b int32) bool {
		return (a < 0) == (b < 0) && (a < 0 || p.sets[a].print == p.sets[b].print)
	}
	return same(x.a, y.a) && same(x.aaaa, y.aaaa) && same(x.srv, y.srv) && same(x.ptr, y.ptr)
}

// sameSet reports whether two collectors hold the same records in the
// same order, with the same TTL and policy.
func (p *packer) sameSet(x, y *collector) bool {
	if x.ttl != y.ttl || x.pol != y.pol || x.addrs.n != y.addrs.n || x.ptr != y.ptr {
		return false
	}
	c := p.collected
	if x.addrs != y.addrs {
		xs, ys := c.recs(x.addrs), c.recs(y.addrs)
		for i := range xs {
			a, b := &xs[i], &ys[i]
			if a.ip != b.ip || a.is4 != b.is4 || a.weight != b.weight || a.info != b.info || a.local != b.local {
				return false
			}
		}
	}
	if x.extra == 0 || y.extra == 0 {
		return x.extra == y.extra
	}
	xm, ym := &c.extras[x.extra-1], &c.extras[y.extra-1]
	if len(xm.srvs) != len(ym.srvs) || !slices.Equal(xm.ptrs, ym.ptrs) {
		return false
	}
	for i := range xm.srvs {
		a, b := &xm.srvs[i], &ym.srvs[i]
		if a.task != b.task || a.port != b.port || a.weight != b.weight || a.local != b.local || a.info != b.info || !slices.Equal(a.glue, b.glue) {
			return false
		}
	}
	return true
}

// view packs the records of name n in one view from collector s.
func (p *packer) view(n int32, network int32, s int32) packedView {
	v := packedView{network: network, a: -1, aaaa: -1, srv: -1, ptr: -1}
	if s < 0 {
		return v
	}
	sb := &p.collected.collectors[s]
	if sb.addrs.n > 0 {
		v.a, v.aaaa = p.addrSets(sb, n, network)
	}
	if srvs := p.collected.srvsOf(sb); len(srvs) > 0 {
		v.srv = p.srvSet(sb, srvs, n, network)
	}
	if sb.ptr.n > 0 {
		v.ptr = p.ptrSet(sb, n, network)
	}
	return v
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
	var local []bool // nil while no record is local: the same as all false
	for i, r := range recs {
		off := len(p.tab.bytes)
		p.tab.bytes = packAddr(p.tab.bytes, sb.ttl, r.addr())
		p.tab.recs = append(p.tab.recs, rec{off: uint32(off), n: uint16(len(p.tab.bytes) - off), weight: r.weight, info: r.info})
		if r.local && local == nil {
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
		prio := uint16(0)
		if !r.local && p.preferLocal {
			prio = 1
		}
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
func (p *packer) finish(t uint16, ttl uint32, first int, policyName string, limit int, local []bool, n int32, network int32) int32 {
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

// scratchLocal returns a zeroed []bool of n, reused from set to set
// (finish reads it and keeps nothing).
func (p *packer) scratchLocal(n int) []bool {
	if cap(p.scratch.local) < n {
		p.scratch.local = make([]bool, n)
	}
	l := p.scratch.local[:n]
	clear(l)
	return l
}

// compileGroups compiles the policy over all records, or over the local
// and remote groups separately when some but not all records are local.
func compileGroups(policy scheduler.Policy, weights []uint32, local []bool) scheduler.Orderer {
	nl := 0
	for _, l := range local {
		if l {
			nl++
		}
	}
	if nl == 0 || nl == len(weights) {
		return policy.Compile(weights)
	}
	var li, ri []int
	var lw, rw []uint32
	for i, w := range weights {
		if local[i] {
			li, lw = append(li, i), append(lw, w)
		} else {
			ri, rw = append(ri, i), append(rw, w)
		}
	}
	return scheduler.Grouped(
		scheduler.Group{Indices: li, Orderer: policy.Compile(lw)},
		scheduler.Group{Indices: ri, Orderer: policy.Compile(rw)},
	)
}

// fingerprint identifies a set's content for rotation carry-over and for
// telling views apart: a hash of the policy, and of each record with its
// weight and locality, taken eight bytes at a time.
func fingerprint(policy string, bytes []byte, recs []rec, local []bool) uint64 {
	h := printWords(printSeed, []byte(policy))
	for i := range recs {
		h = printWords(h, bytes[recs[i].off:recs[i].off+uint32(recs[i].n)])
		w := uint64(recs[i].weight) << 1
		if local != nil && local[i] {
			w |= 1
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

// apex packs the zone's SOA and NS.
func (b *builder) apex(s *Snapshot) {
	ns := "ns." + b.cfg.Domain
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: b.cfg.Domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: b.cfg.TTL},
		Ns:      ns,
		Mbox:    "hostmaster." + b.cfg.Domain,
		Serial:  s.Serial,
		Refresh: 3600, Retry: 600, Expire: 86400,
		Minttl: b.cfg.TTL,
	}
	nsRR := &dns.NS{Hdr: dns.RR_Header{Name: b.cfg.Domain, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: b.cfg.TTL}, Ns: ns}
	// The domain passed Config.Check, so these records always pack.
	s.soa, _ = packFull(soa)
	one := func(t uint16, packed []byte, info uint32) int32 {
		first := len(b.tab.recs)
		off := len(b.tab.bytes)
		b.tab.bytes = append(b.tab.bytes, packed...)
		b.tab.recs = append(b.tab.recs, rec{off: uint32(off), n: uint16(len(packed)), weight: 1, info: info})
		return b.finish(t, b.cfg.TTL, first, scheduler.RoundRobin, 0, nil, -1, 0)
	}
	b.apexSOA = one(dns.TypeSOA, packOwnerless(soa), infoSOA)
	b.apexNS = one(dns.TypeNS, packOwnerless(nsRR), infoNS)
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
}

// trim returns s without much unused capacity, which a snapshot would
// otherwise keep as long as it lives.
func trim[T any](s []T) []T {
	if cap(s)-len(s) <= len(s)/8 {
		return s
	}
	return append(make([]T, 0, len(s)), s...)
}

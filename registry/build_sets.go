package registry

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/scheduler"
)

// parallelPackMin is the number of names from which packNames packs in
// two halves at once.
var parallelPackMin = 4096

// packNames packs the views of every collected name. With many names, a
// copy of the builder with tables of its own packs the second half on
// another goroutine; its sets and views then join the builder's.
func (b *builder) packNames() {
	<-b.tablesMade
	end := len(b.nbs)
	if end < parallelPackMin {
		b.packRange(0, end)
		return
	}
	mid := end / 2
	h := b.half()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.packRange(mid, end)
	}()
	b.packRange(0, mid)
	<-done
	b.mergeHalf(h, mid, end)
}

func (b *builder) packRange(from, to int) {
	for n := from; n < to; n++ {
		if !b.nbs[n].packed {
			b.packName(int32(n))
		}
	}
}

// half returns a copy of the builder that packs into tables of its own.
// It shares what packing only reads: the collectors, the key arena and
// the policies (every policy collectors name is looked up as it is named,
// so neither copy adds to them).
func (b *builder) half() *builder {
	b.domainWire()
	h := *b
	// Sized for half of the service-level names of a structural build: a
	// task's record in its tasks set and its SRV record with glue; a
	// service's three or four sets with rotation.
	t, s := len(b.data.Tasks), len(b.data.Services)
	h.tab = &table{
		policies: b.tab.policies,
		bytes:    make([]byte, 0, 56*t+32*s+1024),
		recs:     make([]rec, 0, t+s+16),
		rots:     make([]rotation, 0, 3*s+16),
	}
	h.sets, h.setView = make([]RRSet, 0, 4*s+16), make([]int32, 0, 4*s+16)
	h.vix, h.singles = make([]viewIx, 0, 3*s+16), nil
	h.shared = make(map[sharedKey]int32)
	h.netViews, h.v4, h.v6, h.local, h.ptrs, h.key = nil, nil, nil, nil, nil, nil
	h.seen, h.srvSeen = nil, nil
	h.weights, h.states = nil, nil
	h.prevNum, h.prevCursor = -1, 0
	return &h
}

// mergeHalf adds what h packed, the names from to end, to the builder.
func (b *builder) mergeHalf(h *builder, from, end int) {
	setBase, vixBase := b.appendPacked(h.tab, h.sets), int32(len(b.vix))
	shift := func(s int32) int32 {
		if s < 0 {
			return s
		}
		return s + setBase
	}
	for _, v := range h.vix {
		v.a, v.aaaa, v.srv, v.ptr = shift(v.a), shift(v.aaaa), shift(v.srv), shift(v.ptr)
		b.vix = append(b.vix, v)
	}
	for n := from; n < end; n++ {
		if !b.nbs[n].packed {
			b.idx.names[n].view += uint32(vixBase)
		}
	}
}

// appendPacked appends sets packed into a table of their own (on another
// goroutine) to the builder's sets, and returns the number the first of
// them now has. The sets keep their table: a snapshot's sets may point
// into several, whose records need not move. Each table gets the
// builder's task IDs and policy names, which the sets' records and
// policies are numbered by.
func (b *builder) appendPacked(tab *table, sets []RRSet) int32 {
	tab.bytes, tab.recs = trim(tab.bytes), trim(tab.recs)
	tab.infos, tab.policies = b.tab.infos, b.tab.policies
	setBase := int32(len(b.sets))
	for _, rs := range sets {
		rs.tab = tab
		b.addSet(rs)
	}
	return setBase
}

func (b *builder) packName(n int32) {
	def := int32(-1)
	nets := b.netViews[:0]
	for v := b.nbs[n].head; v >= 0; v = b.vbs[v].next {
		if b.vbs[v].network == 0 {
			def = b.vbs[v].set
		} else {
			nets = append(nets, v)
		}
	}
	b.netViews = nets
	e := &b.idx.names[n]
	if len(nets) == 0 && def >= 0 {
		// The common case, a task's slot or network-scoped name: one
		// record, packed already under the task's name, whose view it
		// shares.
		if v := b.sharedSingleView(&b.sbs[def]); v >= 0 {
			e.view, e.nview = uint32(v), 1
			return
		}
	}
	first := int32(len(b.vix))
	dv := b.view(n, 0, def)
	if len(nets) == 0 {
		// A name whose one view is one set: names sharing that set (a
		// task's name, slot and network-scoped name) share the view.
		if s := dv.alone(); s >= 0 {
			if v := b.setView[s]; v >= 0 {
				e.view, e.nview = uint32(v), 1
				return
			}
			b.setView[s] = first
		}
		b.vix = append(b.vix, dv)
		e.view, e.nview = uint32(first), 1
		return
	}
	// A name that only has network views (a service outside the
	// --network restriction) gets an empty default view.
	b.vix = append(b.vix, dv)
	slices.SortFunc(nets, func(x, y int32) int { return strings.Compare(b.netIDs[b.vbs[x].network], b.netIDs[b.vbs[y].network]) })
	for _, v := range nets {
		vb := b.vbs[v]
		if def >= 0 && b.sameSet(&b.sbs[def], &b.sbs[vb.set]) {
			continue // packs to the default view; sameView would drop it
		}
		x := b.view(n, vb.network, vb.set)
		if !b.sameView(&x, &b.vix[first]) {
			b.vix = append(b.vix, x)
		}
	}
	e = &b.idx.names[n]
	e.view, e.nview = uint32(first), uint16(int32(len(b.vix))-first)
	if e.nview == 1 && def >= 0 {
		if s := b.vix[first].alone(); s >= 0 {
			if v := b.setView[s]; v >= 0 {
				b.vix = b.vix[:first]
				e.view = uint32(v)
			} else {
				b.setView[s] = first
			}
		}
	}
}

// single returns the packed set of the address record at arena offset
// off alone, +1, or 0.
func (b *builder) single(off uint32) int32 {
	if int(off) < len(b.singles) {
		return b.singles[off]
	}
	return 0
}

func (b *builder) setSingle(off uint32, s int32) {
	if int(off) >= len(b.singles) {
		b.singles = append(b.singles, make([]int32, max(int(off)+1, len(b.arena))-len(b.singles))...)
	}
	b.singles[off] = s
}

// sharedSingleView returns the view that holds alone the set a collector
// of one address record would pack to, if there is one already; else -1.
func (b *builder) sharedSingleView(sb *setB) int32 {
	if sb.addrs.n != 1 || sb.more != 0 || sb.ptr.n != 0 {
		return -1
	}
	single := b.single(sb.addrs.off)
	if single == 0 {
		return -1
	}
	rs := &b.sets[single-1]
	if rs.TTL != sb.ttl || b.tab.policies[rs.pol] != b.polNames[sb.pol] {
		return -1
	}
	return b.setView[single-1]
}

// alone returns the one set of a default view that has one, else -1.
func (v *viewIx) alone() int32 {
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

func (b *builder) sameView(x, y *viewIx) bool {
	same := func(p, q int32) bool {
		return (p < 0) == (q < 0) && (p < 0 || b.sets[p].print == b.sets[q].print)
	}
	return same(x.a, y.a) && same(x.aaaa, y.aaaa) && same(x.srv, y.srv) && same(x.ptr, y.ptr)
}

// sameSet reports whether two collectors hold the same records in the
// same order, with the same TTL and policy.
func (b *builder) sameSet(x, y *setB) bool {
	if x.ttl != y.ttl || x.pol != y.pol || x.addrs.n != y.addrs.n || x.ptr != y.ptr {
		return false
	}
	if x.addrs != y.addrs {
		xs, ys := b.recs(x.addrs), b.recs(y.addrs)
		for i := range xs {
			p, q := &xs[i], &ys[i]
			if p.ip != q.ip || p.is4 != q.is4 || p.weight != q.weight || p.info != q.info || p.local != q.local {
				return false
			}
		}
	}
	if x.more == 0 || y.more == 0 {
		return x.more == y.more
	}
	xm, ym := &b.more[x.more-1], &b.more[y.more-1]
	if len(xm.srvs) != len(ym.srvs) || !slices.Equal(xm.ptrs, ym.ptrs) {
		return false
	}
	for i := range xm.srvs {
		p, q := &xm.srvs[i], &ym.srvs[i]
		if p.task != q.task || p.port != q.port || p.weight != q.weight || p.local != q.local || p.info != q.info || !slices.Equal(p.glue, q.glue) {
			return false
		}
	}
	return true
}

// view packs the records of name n in one view.
func (b *builder) view(n int32, network int32, s int32) viewIx {
	v := viewIx{network: network, a: -1, aaaa: -1, srv: -1, ptr: -1}
	if s < 0 {
		return v
	}
	sb := &b.sbs[s]
	if sb.addrs.n > 0 {
		v.a, v.aaaa = b.addrSets(sb, n, network)
	}
	if srvs := b.srvsOf(sb); len(srvs) > 0 {
		v.srv = b.srvSet(sb, srvs, n, network)
	}
	if sb.ptr.n > 0 {
		v.ptr = b.ptrSet(sb, n, network)
	}
	return v
}

// addrSets packs the A and AAAA sets of a collector. A task's one address
// answers under its name, its slot and its network-scoped name, collected
// from the same record: it is packed once, into one RRSet (a set of one
// record has no rotation to keep apart). A larger record slice shared by
// several names is packed once too, each name's RRSet keeping its own
// rotation.
func (b *builder) addrSets(sb *setB, n int32, network int32) (a, aaaa int32) {
	addrs := b.recs(sb.addrs)
	if len(addrs) == 1 {
		src := &addrs[0]
		if single := b.single(sb.addrs.off); single > 0 {
			rs := &b.sets[single-1]
			if rs.TTL == sb.ttl && b.tab.policies[rs.pol] == b.polNames[sb.pol] {
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
		s := b.addrSet(t, addrs, sb, n, network)
		b.setSingle(sb.addrs.off, s+1)
		if t == dns.TypeA {
			return s, -1
		}
		return -1, s
	}
	key := sharedKey{addrs: sb.addrs.off + 1, n: len(addrs), ttl: sb.ttl, pol: sb.pol, typ: dns.TypeA}
	if s, ok := b.shared[key]; ok {
		a = b.clone(s, n, network)
		key.typ = dns.TypeAAAA
		return a, b.clone(b.shared[key], n, network)
	}
	// Split by family, first occurrence of each address kept, in order.
	v4, v6 := b.v4[:0], b.v6[:0]
	if len(addrs) > smallSet {
		if b.seen == nil {
			b.seen = make(map[[16]byte]struct{})
		}
		clear(b.seen)
	}
	for i, r := range addrs {
		if len(addrs) > smallSet {
			if _, dup := b.seen[r.ip]; dup {
				continue
			}
			b.seen[r.ip] = struct{}{}
		} else if hasAddr(addrs[:i], &r) {
			continue
		}
		if r.is4 {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	b.v4, b.v6 = v4, v6
	a = b.addrSet(dns.TypeA, v4, sb, n, network)
	aaaa = b.addrSet(dns.TypeAAAA, v6, sb, n, network)
	b.shared[key] = a
	key.typ = dns.TypeAAAA
	b.shared[key] = aaaa
	return a, aaaa
}

// clone returns a new RRSet with the records of set s (-1: none) and the
// rotation of name n in network's view.
func (b *builder) clone(s, n int32, network int32) int32 {
	if s < 0 {
		return -1
	}
	rs := b.sets[s]
	if rs.rot != 0 {
		rot := b.tab.rots[rs.rot-1]
		rot.state = b.carry(n, network, rs.Type, rs.print)
		b.tab.rots = append(b.tab.rots, rot)
		rs.rot = uint32(len(b.tab.rots))
	}
	return b.addSet(rs)
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

func (b *builder) addrSet(t uint16, recs []addrRec, sb *setB, n int32, network int32) int32 {
	if len(recs) == 0 {
		return -1
	}
	first := len(b.tab.recs)
	var local []bool // nil while no record is local: the same as all false
	for i, r := range recs {
		off := len(b.tab.bytes)
		b.tab.bytes = packAddr(b.tab.bytes, sb.ttl, r.addr())
		b.tab.recs = append(b.tab.recs, rec{off: uint32(off), n: uint16(len(b.tab.bytes) - off), weight: r.weight, info: r.info})
		if r.local && local == nil {
			local = b.scratchLocal(len(recs))
		}
		if local != nil {
			local[i] = r.local
		}
	}
	return b.finish(t, sb.ttl, first, b.polNames[sb.pol], b.cfg.MaxAnswers, local, n, network)
}

func (b *builder) srvSet(sb *setB, srvs []srvRec, n int32, network int32) int32 {
	key := sharedKey{srvs: &srvs[0], n: len(srvs), ttl: sb.ttl, pol: sb.pol, typ: dns.TypeSRV}
	if s, ok := b.shared[key]; ok {
		return b.clone(s, n, network)
	}
	first := len(b.tab.recs)
	local := b.scratchLocal(len(srvs))[:0]
	big := len(srvs) > smallSet
	if big {
		if b.srvSeen == nil {
			b.srvSeen = make(map[srvKey]struct{})
		}
		clear(b.srvSeen)
	}
	for i, r := range srvs {
		k := srvKey{r.task, r.port}
		if big {
			if _, dup := b.srvSeen[k]; dup {
				continue
			}
			b.srvSeen[k] = struct{}{}
		} else if hasSRV(srvs[:i], k) {
			continue
		}
		prio := uint16(0)
		if !r.local && b.cfg.PreferLocal && b.data.LocalNode != "" {
			prio = 1
		}
		// The target, the task's name in the zone, packed.
		target := packLabels(b.key[:0], b.refKey(b.ref(r.task)))
		target = append(target, b.domainWire()...)
		b.key = target
		off := len(b.tab.bytes)
		b.tab.bytes = packSRV(b.tab.bytes, sb.ttl, prio, uint16(min(r.weight, 65535)), r.port, target)
		e := rec{off: uint32(off), n: uint16(len(b.tab.bytes) - off), weight: r.weight, info: r.info}
		e.extra = uint32(len(b.tab.bytes))
		for _, a := range r.glue {
			b.tab.bytes = packGlue(b.tab.bytes, sb.ttl, target, a.Unmap())
		}
		e.xn, e.xc = uint16(len(b.tab.bytes)-int(e.extra)), uint16(len(r.glue))
		b.tab.recs = append(b.tab.recs, e)
		local = append(local, r.local)
	}
	b.reduceSRVWeights(b.tab.recs[first:], local)
	s := b.finish(dns.TypeSRV, sb.ttl, first, b.polNames[sb.pol], b.cfg.MaxAnswers, local, n, network)
	b.shared[key] = s
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

func (b *builder) ptrSet(sb *setB, n int32, network int32) int32 {
	first := len(b.tab.recs)
	b.ptrs = b.ptrsOf(sb, b.ptrs[:0])
	for _, p := range b.ptrs {
		off := len(b.tab.bytes)
		b.tab.bytes = packPTR(b.tab.bytes, sb.ttl, b.refKey(p))
		b.tab.recs = append(b.tab.recs, rec{off: uint32(off), n: uint16(len(b.tab.bytes) - off), weight: 1, info: infoTarget})
	}
	return b.finish(dns.TypePTR, sb.ttl, first, b.polNames[sb.pol], 0, nil, n, network)
}

// domainWire is the zone's name in wire format.
func (b *builder) domainWire() []byte {
	if b.domain == nil {
		b.domain = packName(nil, b.cfg.Domain)
	}
	return b.domain
}

// finish ends the set whose records are tab.recs[first:]: it drains
// zero-weight records, compiles the scheduler and carries the rotation
// state over from the previous snapshot when nothing changed. It returns
// the set's number.
func (b *builder) finish(t uint16, ttl uint32, first int, policyName string, limit int, local []bool, n int32, network int32) int32 {
	recs := b.tab.recs[first:]
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
		b.tab.recs = b.tab.recs[:first+keep]
		if local != nil {
			local = local[:keep]
		}
	} else {
		for i := range recs {
			recs[i].weight = 1
		}
	}
	if b.lastPolName != policyName || b.lastPol == nil {
		policy, err := b.policy(policyName)
		if err != nil {
			policy, _ = b.policy(b.cfg.Policy)
		}
		b.lastPolName, b.lastPol = policyName, policy
		b.lastPolIdx = b.polIndex(policy.Name())
	}
	policy, name := b.lastPol, b.tab.policies[b.lastPolIdx]
	rs := RRSet{Type: t, TTL: ttl, tab: b.tab, first: uint32(first), n: uint32(len(recs)), limit: int32(min(limit, 1<<30)), pol: b.lastPolIdx}
	rs.print = fingerprint(name, b.tab.bytes, recs, local)
	if len(recs) > 1 {
		weights := takeN(&b.weights, len(recs))
		for i := range recs {
			weights[i] = recs[i].weight
		}
		b.tab.rots = append(b.tab.rots, rotation{order: compileGroups(policy, weights, local), state: b.carry(n, network, t, rs.print)})
		rs.rot = uint32(len(b.tab.rots))
	}
	return b.addSet(rs)
}

func (b *builder) addSet(rs RRSet) int32 {
	b.sets = append(b.sets, rs)
	b.setView = append(b.setView, -1)
	return int32(len(b.sets) - 1)
}

func (b *builder) polIndex(name string) uint8 {
	if i, ok := b.polIdx[name]; ok {
		return i
	}
	i := uint8(len(b.tab.policies))
	b.tab.policies = append(b.tab.policies, name)
	b.polIdx[name] = i
	return i
}

// carry returns the rotation state of the set of type t in network's view
// of name n in the previous snapshot when its fingerprint is print, or a
// new state.
func (b *builder) carry(n int32, network int32, t uint16, print uint64) *scheduler.State {
	if b.prev != nil && n >= 0 {
		if b.prevNum != n {
			b.prevNum = n
			b.prevName = b.prevLookup(b.idx.key(&b.idx.names[n]))
		}
		var pv *View
		for i := range b.prevName.views {
			if b.prevName.views[i].Network == b.netIDs[network] {
				pv = &b.prevName.views[i]
			}
		}
		if pv != nil {
			if p := pv.Set(t); p != nil && p.print == print && p.state() != nil {
				return p.state()
			}
		}
	}
	return newState(&b.states)
}

// prevLookup finds key in the previous snapshot. Names come in the same
// order build after build, so it first tries the name after the one it
// found last, which spares a hash probe in a large index.
func (b *builder) prevLookup(key []byte) Name {
	p := &b.prev.index
	if c := int(b.prevCursor); c < len(p.names) && !p.names[c].unindexed && p.names[c].view != 0 && string(p.key(&p.names[c])) == string(key) {
		b.prevCursor++
		return b.prev.name(int32(c))
	}
	if i := p.find(key, hashKey(key)); i >= 0 && p.names[i].view != 0 {
		b.prevCursor = i + 1
		return b.prev.name(i)
	}
	n, _ := b.prev.Lookup(key)
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
func (b *builder) scratchLocal(n int) []bool {
	if cap(b.local) < n {
		b.local = make([]bool, n)
	}
	l := b.local[:n]
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
	b.idx.names, b.idx.keys = trim(b.idx.names), trim(b.idx.keys)
	b.tab.recs, b.tab.bytes = trim(b.tab.recs), trim(b.tab.bytes)
	s.index, s.sets = b.idx, trim(b.sets)
	set := func(i int32) *RRSet {
		if i < 0 {
			return nil
		}
		return &s.sets[i]
	}
	s.views = make([]View, len(b.vix))
	for i := range b.vix {
		x := &b.vix[i]
		s.views[i] = View{Network: b.netIDs[x.network], A: set(x.a), AAAA: set(x.aaaa), SRV: set(x.srv), PTR: set(x.ptr)}
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

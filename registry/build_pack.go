package registry

import (
	"slices"
	"strings"

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
	srvPriority [len(tiers)]uint16 // by locality (see localities)

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
	local    []locality
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
		srvPriority: b.srvPriority,
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

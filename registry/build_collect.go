package registry

import (
	"bytes"
	"net/netip"
)

// collection is every name of a build with the records it collects, in
// each view, as services are added: a name heads a list of its views, and
// each view has a collector of its records. Records are windows of one
// arena, shared by every collector that gets the same ones. Once every
// service is added, packers read it to pack the names.
type collection struct {
	index      nameIndex       // the names' keys; packing fills in their views
	names      []collectedName // by name number, as index.names
	views      []collectedView
	collectors []collector
	extras     []collectorExtra
	// arena holds every address record collected.
	arena   []addrRec
	srvSlab []srvRec // chunks of SRV records (see takeN)

	// Views are numbered by network: networks[0] is "", the default view.
	networks    []string
	networkNum  map[string]int32
	inDefault   []bool          // by view number: its records also go to the default view
	defaultNets map[string]bool // Config.Networks as IDs; nil: every network
}

func newCollection(size buildSizes, d *Data) collection {
	return collection{
		index:      newNameIndex(size.indexed, size.names, size.keys),
		names:      make([]collectedName, 0, size.names),
		views:      make([]collectedView, 0, size.collectors),
		collectors: make([]collector, 0, size.collectors),
		extras:     make([]collectorExtra, 0, 4*len(d.Services)+4),
		arena:      make([]addrRec, 0, len(d.Tasks)+len(d.Services)+16),
		networks:   []string{""},
		networkNum: map[string]int32{"": 0},
		inDefault:  []bool{true},
	}
}

// collectedName is what a name has while services are added.
type collectedName struct {
	head int32 // first collectedView, -1 for none
	// packed marks a name whose one view the task worker packs (see
	// singleRecordTask).
	packed  bool
	taskEnt int32 // for a task's name, its entry in taskIndex.ents, else -1
	reverse bool
	// inTaskIndex marks a task's name and network-scoped name, found
	// through the task index rather than the name index.
	inTaskIndex bool
}

// collectedView is one view of a name while collecting.
type collectedView struct {
	network int32 // view number; 0 is the default view
	// standsFor is, for a default view, the network whose view has had
	// the same records so far (see addTo), or 0.
	standsFor int32
	collector int32
	next      int32 // next collectedView of the name, -1 at the end
}

// collector is the records of one name in one view, with the smallest
// TTL and the first policy of the services that add to it.
type collector struct {
	addrs recsRef
	ptr   keyRef // the first PTR target
	extra int32  // the rest in collection.extras, +1
	ttl   uint32
	pol   uint8 // in policyTable.asked
}

// collectorExtra is what few collectors have: SRV records, a second PTR
// target.
type collectorExtra struct {
	srvs []srvRec
	ptrs []keyRef
}

// keyRef is a name in the index's key arena (a PTR target).
type keyRef struct {
	off uint32
	n   uint8
}

// addrRec is one address record while collecting. It holds no pointer
// (netip.Addr does), so the collectors cost the garbage collector nothing.
type addrRec struct {
	ip     [16]byte
	weight uint32
	info   uint32
	is4    bool
	local  locality
}

func newAddrRec(a netip.Addr, weight, info uint32, local locality) addrRec {
	a = a.Unmap()
	return addrRec{ip: a.As16(), is4: a.Is4(), weight: weight, info: info, local: local}
}

func (r *addrRec) addr() netip.Addr {
	if r.is4 {
		return netip.AddrFrom4([4]byte(r.ip[12:]))
	}
	return netip.AddrFrom16(r.ip)
}

// recsRef is a window of collection.arena.
type recsRef struct{ off, n uint32 }

func (c *collection) recs(r recsRef) []addrRec { return c.arena[r.off : r.off+r.n : r.off+r.n] }

// window returns n records of r from its i-th.
func (r recsRef) window(i, n int) recsRef { return recsRef{off: r.off + uint32(i), n: uint32(n)} }

type srvRec struct {
	task   int32 // the task's name number: the target, with the domain
	port   uint16
	weight uint32
	info   uint32
	local  locality
	glue   []netip.Addr
}

type srvKey struct {
	task int32
	port uint16
}

// networkNumber returns the view number of the network with this ID.
func (c *collection) networkNumber(id string) int32 {
	if x, ok := c.networkNum[id]; ok {
		return x
	}
	x := int32(len(c.networks))
	c.networks = append(c.networks, id)
	c.networkNum[id] = x
	c.inDefault = append(c.inDefault, c.defaultNets == nil || c.defaultNets[id])
	return x
}

// maxKey is the longest key a question can carry (a name of 255 bytes
// on the wire); longer names are never asked, so they are not kept.
const maxKey = 253

// name returns the number of the name with this key, creating it.
func (c *collection) name(key []byte) int32 {
	n, added := c.index.intern(key)
	if added {
		c.names = append(c.names, collectedName{head: -1, taskEnt: -1})
	}
	return n
}

// unindexedName adds a name that the name index will not find.
func (c *collection) unindexedName(key []byte) int32 {
	off := uint32(len(c.index.keys))
	c.index.keys = append(c.index.keys, key...)
	c.index.names = append(c.index.names, nameEnt{key: off, klen: uint8(len(key)), unindexed: true})
	c.names = append(c.names, collectedName{head: -1, taskEnt: -1, inTaskIndex: true})
	return int32(len(c.index.names) - 1)
}

// ensureName adds key as an empty non-terminal unless it is a name.
func (c *collection) ensureName(key []byte) {
	h := hashKey(key)
	if c.index.find(key, h) >= 0 {
		return
	}
	off := uint32(len(c.index.keys))
	c.index.keys = append(c.index.keys, key...)
	num := c.index.insert(off, len(key), h)
	c.index.names[num].view, c.index.names[num].nview = 0, 1
}

// set returns the collector of name n in view (0: the default view),
// creating it with si's TTL and policy.
func (c *collection) set(n int32, view int32, si *svcInfo) *collector {
	v := c.findView(n, view)
	if v < 0 {
		v = c.newView(n, view, si)
	}
	return c.touch(v, si)
}

func (c *collection) findView(n int32, view int32) int32 {
	for v := c.names[n].head; v >= 0; v = c.views[v].next {
		if c.views[v].network == view {
			return v
		}
	}
	return -1
}

func (c *collection) newView(n int32, view int32, si *svcInfo) int32 {
	c.collectors = append(c.collectors, collector{ttl: si.ttl, pol: si.pol})
	c.views = append(c.views, collectedView{network: view, collector: int32(len(c.collectors) - 1), next: c.names[n].head})
	c.names[n].head = int32(len(c.views) - 1)
	return c.names[n].head
}

// touch returns the collector of view v as si adds to it.
func (c *collection) touch(v int32, si *svcInfo) *collector {
	s := &c.collectors[c.views[v].collector]
	if si.ttl < s.ttl {
		s.ttl = si.ttl // one RRset, one TTL: the smallest (RFC 2181)
	}
	return s
}

// split gives the network that default view d stands for a collector of
// its own, a copy of d's records so far.
func (c *collection) split(n, d int32) {
	src := c.collectors[c.views[d].collector]
	// Address records are never appended in place (see put), so both may
	// keep the window; SRV records and PTR targets get their capacity cut,
	// so that appends to one never write into the other's array.
	if src.extra != 0 {
		m := c.extras[src.extra-1]
		m.srvs, m.ptrs = m.srvs[:len(m.srvs):len(m.srvs)], m.ptrs[:len(m.ptrs):len(m.ptrs)]
		c.extras[src.extra-1] = m
		c.extras = append(c.extras, m)
		src.extra = int32(len(c.extras))
	}
	c.collectors = append(c.collectors, src)
	c.views = append(c.views, collectedView{network: c.views[d].standsFor, collector: int32(len(c.collectors) - 1), next: c.names[n].head})
	c.names[n].head = int32(len(c.views) - 1)
	c.views[d].standsFor = 0
}

// add adds records to the name with this key in the view of network and,
// when the network belongs to it, the default view, and returns the
// name's number (-1 when there is nothing to add). The ".<network>" forms
// pass scoped=true: they have the one view only. The records must not
// change afterwards: a collector may keep the slice rather than copy it.
func (c *collection) add(key []byte, network int32, scoped bool, si *svcInfo, addrs recsRef, srvs []srvRec) int32 {
	if int(addrs.n)+len(srvs) == 0 || len(key) > maxKey {
		return -1
	}
	return c.addTo(c.name(key), network, scoped, si, addrs, srvs)
}

// addTo is add for the name with number n.
func (c *collection) addTo(n int32, network int32, scoped bool, si *svcInfo, addrs recsRef, srvs []srvRec) int32 {
	inDefault := c.inDefault[network]
	d := c.findView(n, 0)
	if !scoped && inDefault {
		// The network's view and the default view get the same records:
		// while nothing else comes to either, one collector stands for
		// both (a network view equal to the default one is not kept).
		if d < 0 && c.findView(n, network) < 0 {
			d = c.newView(n, 0, si)
			c.views[d].standsFor = network
			c.put(c.touch(d, si), addrs, srvs)
			return n
		}
		if d >= 0 && c.views[d].standsFor == network {
			c.put(c.touch(d, si), addrs, srvs)
			return n
		}
	}
	if d >= 0 && c.views[d].standsFor != 0 {
		c.split(n, d)
	}
	if !scoped {
		c.put(c.set(n, network, si), addrs, srvs)
		if !inDefault {
			return n
		}
	}
	c.put(c.set(n, 0, si), addrs, srvs)
	return n
}

func (c *collection) put(s *collector, addrs recsRef, srvs []srvRec) {
	switch {
	case addrs.n == 0:
	case s.addrs.n == 0:
		s.addrs = addrs // shared with whoever else has the window
	default:
		// A second window: both, copied to the end of the arena.
		off := uint32(len(c.arena))
		c.arena = append(c.arena, c.recs(s.addrs)...)
		c.arena = append(c.arena, c.recs(addrs)...)
		s.addrs = recsRef{off: off, n: s.addrs.n + addrs.n}
	}
	if len(srvs) > 0 {
		appendRecs(&c.extraOf(s).srvs, srvs)
	}
}

// extraOf returns the extra records of a collector, creating them.
func (c *collection) extraOf(s *collector) *collectorExtra {
	if s.extra == 0 {
		c.extras = append(c.extras, collectorExtra{})
		s.extra = int32(len(c.extras))
	}
	return &c.extras[s.extra-1]
}

// srvsOf and ptrsOf return the SRV records and PTR targets of a collector.
func (c *collection) srvsOf(s *collector) []srvRec {
	if s.extra == 0 {
		return nil
	}
	return c.extras[s.extra-1].srvs
}

func (c *collection) ptrsOf(s *collector, dst []keyRef) []keyRef {
	if s.ptr.n == 0 {
		return dst
	}
	dst = append(dst, s.ptr)
	if s.extra != 0 {
		dst = append(dst, c.extras[s.extra-1].ptrs...)
	}
	return dst
}

// appendRecs appends recs to *dst, sharing recs while *dst is empty (the
// capacity is cut so that a later append copies).
func appendRecs[T any](dst *[]T, recs []T) {
	if len(recs) == 0 {
		return
	}
	if *dst == nil {
		*dst = recs[:len(recs):len(recs)]
		return
	}
	*dst = append(*dst, recs...)
}

// addPTR adds target (a name in the key arena, made absolute by a dot) to
// reverse name n; scratch is reused.
func (c *collection) addPTR(n int32, target keyRef, si *svcInfo, scratch *[]keyRef) {
	s := c.set(n, 0, si)
	if s.ptr.n == 0 {
		s.ptr = target
		return
	}
	want := c.refKey(target)
	*scratch = c.ptrsOf(s, (*scratch)[:0])
	for _, p := range *scratch {
		if string(c.refKey(p)) == string(want) {
			return
		}
	}
	m := c.extraOf(s)
	m.ptrs = append(m.ptrs, target)
}

func (c *collection) refKey(r keyRef) []byte { return c.index.keys[r.off : r.off+uint32(r.n)] }

// ref returns the key of name n as a keyRef.
func (c *collection) ref(n int32) keyRef {
	e := &c.index.names[n]
	return keyRef{off: e.key, n: e.klen}
}

// rawRef puts key in the arena without making it a name, unless it is one.
func (c *collection) rawRef(key []byte) keyRef {
	if n := c.index.find(key, hashKey(key)); n >= 0 {
		return c.ref(n)
	}
	return c.rawKey(key)
}

// rawKey puts key in the arena without making it a name.
func (c *collection) rawKey(key []byte) keyRef {
	off := uint32(len(c.index.keys))
	c.index.keys = append(c.index.keys, key...)
	return keyRef{off: off, n: uint8(len(key))}
}

// emptyNonTerminals adds the names that exist only because names below
// them do (NODATA, not NXDOMAIN): "1.abc" under "web.1.abc", "_tcp.web"
// under "_http._tcp.web". Their keys are suffixes of the names' keys, in
// the arena already. The walk up from a name stops at the first suffix
// that exists: an empty non-terminal added already has its own suffixes.
func (b *builder) emptyNonTerminals() {
	c := &b.collected
	real := len(c.names)
	for n := 0; n < real; n++ {
		if c.names[n].reverse || c.names[n].inTaskIndex {
			continue
		}
		e := c.index.names[n]
		off, end := e.key, e.key+uint32(e.klen)
		for {
			dot := bytes.IndexByte(c.index.keys[off:end], '.')
			if dot < 0 {
				break
			}
			off += uint32(dot) + 1
			suffix := c.index.keys[off:end]
			h := hashKey(suffix)
			if c.index.find(suffix, h) >= 0 {
				break
			}
			num := c.index.insert(off, len(suffix), h)
			c.index.names[num].view, c.index.names[num].nview = 0, 1 // the empty view
		}
	}
	// The network of a network-scoped task name exists: "appnet" under
	// "web.1.x.appnet".
	for _, nn := range b.taskIndex.networks {
		c.ensureName([]byte(nn))
	}
	// The service above its slot names: "web" above "1.web".
	for _, svc := range b.slots.owners {
		c.ensureName([]byte(svc))
	}
}

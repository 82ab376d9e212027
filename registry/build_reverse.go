package registry

import (
	"net/netip"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/scheduler"
)

// Reverse names, when they have their own index (see reverse_lookup.go),
// are built apart from the other names: the builder only lists each PTR
// record as a ptrJob while it collects, and a reverseBuilder turns the
// list into the address index, one PTR set and one view per address, on
// the task worker (see build_taskworker.go) while the builder goes on. Its
// sets, in a record table of their own, and a view for each are then added
// to the builder's (mergeReverse). A reverse name needs no key: a question
// is parsed back into its address.

// ptrJob is one PTR record: the reverse name of ip points at target, for
// a service with this TTL and policy.
type ptrJob struct {
	ip     [16]byte
	target keyRef
	ttl    uint32
	pol    uint8 // in policyTable.asked
}

// ptr adds a PTR record from the reverse name of addr to target (a name
// in the key arena, made absolute by a dot).
func (b *builder) ptr(addr netip.Addr, target keyRef, si *svcInfo) {
	if !b.shapeIndexed {
		b.collected.addPTR(b.reverseName(addr), target, si, &b.perService.ptrs)
		return
	}
	b.jobs.ptrs = append(b.jobs.ptrs, ptrJob{ip: addr.As16(), target: target, ttl: si.ttl, pol: si.pol})
}

// reverseName returns the number of the reverse name of addr in the name
// index, creating it.
func (b *builder) reverseName(addr netip.Addr) int32 {
	n := b.collected.name(appendReverse(b.key[:0], addr))
	b.collected.names[n].reverse = true
	return n
}

// reverseBuilder builds the reverse names of a list of PTR records. It
// reads the builder's key arena and the previous snapshot, and writes only
// its own fields.
type reverseBuilder struct {
	keys []byte // the builder's key arena, as far as the jobs refer to it
	pols []resolvedPolicy
	prev *Snapshot

	// index numbers the addresses; entry e has ents[e], sets[e] and,
	// after mergeReverse, view names[e].
	index addrIndex
	ents  []reverseEnt
	extra []reverseTarget

	bytes   []byte
	recs    []rec
	sets    []RRSet
	rots    []rotation
	states  []scheduler.State
	weights []uint32
	key     []byte
}

// reverseEnt is one reverse name while collecting: its first target, the
// rest in reverseBuilder.extra, and the smallest TTL of the services that
// add to it (one RRset, one TTL: RFC 2181) with the first one's policy.
type reverseEnt struct {
	first keyRef
	more  int32 // first reverseTarget, -1 for none
	last  int32 // last reverseTarget, -1 for none
	ttl   uint32
	pol   uint8
	again bool // another record came after it was packed
}

type reverseTarget struct {
	target keyRef
	next   int32
}

// start readies the builder for about n jobs.
func (r *reverseBuilder) start(n int) {
	r.index = newAddrIndex(n)
	r.ents = make([]reverseEnt, 0, n)
	// Every set packs to about 45 bytes, once per target.
	r.bytes = make([]byte, 0, 48*n)
	r.recs = make([]rec, 0, n)
	r.sets = make([]RRSet, 0, n)
}

func (r *reverseBuilder) target(t keyRef) []byte { return r.keys[t.off : t.off+uint32(t.n)] }

// add files PTR records under their addresses.
func (r *reverseBuilder) add(jobs []ptrJob) {
	for i := range jobs {
		j := &jobs[i]
		h := hashIP(&j.ip)
		e := r.index.find(&j.ip, h)
		if e < 0 {
			e = int32(len(r.ents))
			r.index.add(&j.ip, h, e)
			r.ents = append(r.ents, reverseEnt{first: j.target, more: -1, last: -1, ttl: j.ttl, pol: j.pol})
			r.pack(e) // packed now, and again if another record comes
			continue
		}
		r.ents[e].again = true
		r.addTarget(&r.ents[e], j)
	}
}

// finish packs again the PTR sets of the reverse names that got more than
// one record (the first packing's records are left unused).
func (r *reverseBuilder) finish() {
	for e := range r.ents {
		if r.ents[e].again {
			r.pack(int32(e))
		}
	}
}

// addTarget adds the target of job j to reverse name ent, unless it has
// it already.
func (r *reverseBuilder) addTarget(ent *reverseEnt, j *ptrJob) {
	ent.ttl = min(ent.ttl, j.ttl)
	want := string(r.target(j.target))
	if string(r.target(ent.first)) == want {
		return
	}
	for x := ent.more; x >= 0; x = r.extra[x].next {
		if string(r.target(r.extra[x].target)) == want {
			return
		}
	}
	r.extra = append(r.extra, reverseTarget{target: j.target, next: -1})
	x := int32(len(r.extra) - 1)
	if ent.last >= 0 {
		r.extra[ent.last].next = x
	} else {
		ent.more = x
	}
	ent.last = x
}

// pack packs the PTR set of reverse name e, as packer.ptrSet and finish
// do for a name in the name index.
func (r *reverseBuilder) pack(e int32) {
	ent := &r.ents[e]
	first := len(r.recs)
	r.packTarget(ent.ttl, ent.first)
	for x := ent.more; x >= 0; x = r.extra[x].next {
		r.packTarget(ent.ttl, r.extra[x].target)
	}
	recs := r.recs[first:]
	pol := &r.pols[ent.pol]
	rs := RRSet{Type: dns.TypePTR, TTL: ent.ttl, first: uint32(first), n: uint32(len(recs)), pol: pol.idx}
	rs.print = fingerprint(pol.name, r.bytes, recs, nil)
	if len(recs) > 1 {
		weights := takeN(&r.weights, len(recs))
		for i := range weights {
			weights[i] = 1
		}
		r.rots = append(r.rots, rotation{order: compileGroups(pol.policy, weights, nil), state: r.carry(e, rs.print)})
		rs.rot = uint32(len(r.rots))
	}
	if int(e) < len(r.sets) {
		r.sets[e] = rs
	} else {
		r.sets = append(r.sets, rs)
	}
}

func (r *reverseBuilder) packTarget(ttl uint32, t keyRef) {
	off := len(r.bytes)
	r.bytes = packPTR(r.bytes, ttl, r.target(t))
	r.recs = append(r.recs, rec{off: uint32(off), n: uint16(len(r.bytes) - off), weight: 1, info: infoTarget})
}

// carry returns the rotation state of reverse name e's PTR set in the
// previous snapshot when its fingerprint is print, or a new state.
func (r *reverseBuilder) carry(e int32, print uint64) *scheduler.State {
	if r.prev != nil {
		ip := [16]byte(r.index.ips.keys[16*e : 16*e+16])
		r.key = appendReverse(r.key[:0], netip.AddrFrom16(ip).Unmap())
		if n, ok := r.prev.Lookup(r.key); ok {
			if v := n.View(nil); v != nil && v.Network == "" {
				if p := v.Set(dns.TypePTR); p != nil && p.print == print && p.state() != nil {
					return p.state()
				}
			}
		}
	}
	return newState(&r.states)
}

// mergeReverse appends the reverse names' records, sets and views to the
// builder's, and makes the address index point at the views.
func (b *builder) mergeReverse(r *reverseBuilder) {
	setBase, viewBase := b.appendPacked(&table{bytes: r.bytes, recs: r.recs, rots: r.rots}, r.sets), int32(len(b.packedViews))
	for e := range r.sets {
		b.packedViews = append(b.packedViews, packedView{a: -1, aaaa: -1, srv: -1, ptr: setBase + int32(e)})
	}
	for e := range r.index.names {
		r.index.names[e] += viewBase
	}
	b.reverseIndex = r.index
}

package registry

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/scheduler"
)

// Snapshot is the registry at one moment, immutable once published. Every
// record is packed at build time; a query looks its name up, picks the view
// of the client's network and lets the RRSet order its records.
//
// The layout is made for a large registry: names are keys in one byte
// arena found through an open-addressing index, records are offsets into
// one packed byte arena, and names, views and RRSets are values in a few
// large slices. Empty non-terminals are index entries whose key is a
// suffix of the name that made them. Little of it holds pointers, so the
// garbage collector has little to trace.
type Snapshot struct {
	// Domain is the zone, a lower-case FQDN ("swarm.internal.").
	Domain string
	// Serial is the SOA serial; it grows with every published snapshot.
	Serial uint32
	Built  time.Time
	// Data is what the snapshot was built from; read only.
	Data *Data

	index   nameIndex
	tasks   *taskNames // nil when every name is in index
	reverse *addrIndex // reverse names by address; nil when they are in index
	slots   *slotNames // slot names by service; nil when they are in index
	views   []View
	sets    []RRSet
	tab     *table
	apex    []View
	// nameservers are the NS names under the domain (nameservers.go).
	nameservers []nsName
	// soa is the zone's SOA record packed with its full owner name, for the
	// authority section of negative answers.
	soa []byte
	// any is the RFC 8482 answer to a query of type ANY, owner the question.
	any []byte

	subnets []subnet
	clients map[netip.Addr][]string

	// allIndexed: every name is in index (Config.allNamesIndexed).
	allIndexed bool
	// over, when not nil, is what this snapshot has over its base, whose
	// indexes, views and sets the fields above are (overlay.go).
	over *overlay

	stats Stats
}

// Stats counts what a snapshot holds. Names are the names it keeps:
// every name with records and the empty non-terminals above service-level
// names; those under task names are answered from the task index. A
// layered snapshot counts its base's names with the overlay's in place of
// those its services had (the overlay's count the empty non-terminals
// under task names too, until the next full build).
type Stats struct {
	Services, Tasks, Names int
}

type subnet struct {
	prefix netip.Prefix
	nets   []string
}

// Name is one owner name with its records, in one or more views. The zero
// Name is no name.
type Name struct {
	// views[0] is the default view, for clients with no network context.
	views []View
}

// View is a name's records as seen from one network.
type View struct {
	Network           string // network ID; "" for the default view
	A, AAAA, SRV, PTR *RRSet
	zone              *zoneSets // the apex's NS and SOA
}

type zoneSets struct{ ns, soa *RRSet }

// RRSet is the records of one type at one name in one view, packed in wire
// format with the owner name compressed to the question (0xC00C), so they
// can be copied behind any question for that name.
type RRSet struct {
	TTL  uint32
	Type uint16

	pol   uint8  // index in tab.policies
	first uint32 // the first record's entry in tab.recs
	n     uint32
	limit int32
	// rot is the set's rotation in tab.rots, +1; 0 for a set of one
	// record: nothing to rotate.
	rot   uint32
	print uint64
	tab   *table
}

// rotation is how a set of more than one record is ordered.
type rotation struct {
	order scheduler.Orderer
	state *scheduler.State
	// firsts counts the answers that put each record first (spread.go);
	// nil until the Store publishes the snapshot.
	firsts []atomic.Uint32
}

// table holds the packed records of a snapshot.
type table struct {
	bytes    []byte
	recs     []rec
	infos    []string
	policies []string
	rots     []rotation
}

// rec is one record: where its bytes (and an SRV record's glue) are.
type rec struct {
	off    uint32 // record bytes in table.bytes
	extra  uint32 // glue bytes in table.bytes
	weight uint32
	info   uint32 // index in table.infos, or infoTarget
	n      uint16 // record length
	xn     uint16 // glue length
	xc     uint16 // glue record count
}

// infoTarget marks a PTR record, whose info is its target.
const infoTarget = ^uint32(0)

// Order appends to dst the indices of the records to answer, in order.
func (r *RRSet) Order(dst []int) []int {
	if r.rot == 0 {
		return append(dst, 0)
	}
	rot := &r.tab.rots[r.rot-1]
	base := len(dst)
	dst = rot.order.Order(dst, rot.state.Next(), int(r.limit))
	if rot.firsts != nil && len(dst) > base {
		rot.firsts[dst[base]].Add(1)
	}
	return dst
}

// Peek appends the order the next query would get, without advancing the
// rotation (for the operations API).
func (r *RRSet) Peek(dst []int) []int {
	if r.rot == 0 {
		return append(dst, 0)
	}
	rot := &r.tab.rots[r.rot-1]
	return rot.order.Order(dst, rot.state.Peek(), int(r.limit))
}

// state is the set's rotation state, nil for a set of one record.
func (r *RRSet) state() *scheduler.State {
	if r.rot == 0 {
		return nil
	}
	return r.tab.rots[r.rot-1].state
}

// Policy names the scheduler that orders this RRSet.
func (r *RRSet) Policy() string { return r.tab.policies[r.pol] }

// Len is the number of records.
func (r *RRSet) Len() int { return int(r.n) }

// Record returns record i, packed behind a question.
func (r *RRSet) Record(i int) []byte {
	e := &r.tab.recs[r.first+uint32(i)]
	return r.tab.bytes[e.off : e.off+uint32(e.n) : e.off+uint32(e.n)]
}

// HasExtra reports whether the records bring additional-section records
// (SRV records bring their targets' addresses).
func (r *RRSet) HasExtra() bool { return r.Type == dns.TypeSRV }

// Extra returns the additional-section records that record i brings,
// packed with full owner names, and how many there are.
func (r *RRSet) Extra(i int) ([]byte, int) {
	e := &r.tab.recs[r.first+uint32(i)]
	if e.xc == 0 {
		return nil, 0
	}
	return r.tab.bytes[e.extra : e.extra+uint32(e.xn) : e.extra+uint32(e.xn)], int(e.xc)
}

// Weight returns the scheduling weight of record i.
func (r *RRSet) Weight(i int) uint32 { return r.tab.recs[r.first+uint32(i)].weight }

// Info describes record i for the operations API: the task ID, "vip", or
// a PTR record's target (slow; not for the query path).
func (r *RRSet) Info(i int) string {
	e := &r.tab.recs[r.first+uint32(i)]
	if e.info != infoTarget {
		return r.tab.infos[e.info]
	}
	// A PTR record: header (2 + 10 bytes), then the target.
	name, _, err := dns.UnpackDomainName(r.Record(i), 12)
	if err != nil {
		return ""
	}
	return name
}

// Apex returns the zone apex (SOA and NS).
func (s *Snapshot) Apex() Name { return Name{views: s.apex} }

// SOA returns the zone's SOA record packed with its full owner name.
func (s *Snapshot) SOA() []byte { return s.soa }

// ANY returns the packed answer to a query of type ANY for a name the
// registry has: the synthesized HINFO of RFC 8482 section 4.2, at the
// snapshot's TTL, its owner a pointer to the question.
func (s *Snapshot) ANY() []byte { return s.any }

// Stats returns what the snapshot holds.
func (s *Snapshot) Stats() Stats { return s.stats }

// Names calls fn for every name key in the snapshot (slow; for the API):
// every name with records and the empty non-terminals above the
// service-level names (not those under task names, see lookup.go).
func (s *Snapshot) Names(fn func(key string, n Name)) {
	if s.over != nil {
		s.over.names(s, fn)
		return
	}
	s.namesBase(fn)
}

// namesBase is Names of the snapshot's own indexes.
func (s *Snapshot) namesBase(fn func(key string, n Name)) {
	for i := range s.index.names {
		e := &s.index.names[i]
		fn(string(s.index.key(e)), s.name(int32(i)))
	}
	for i := range s.nameservers {
		fn(s.nameservers[i].key, Name{views: s.nameservers[i].view})
	}
	s.sharedNames(fn)
}

// ClientNetworks returns the IDs of the networks whose view a client at
// addr gets, best first; nil for a client with no network context.
func (s *Snapshot) ClientNetworks(addr netip.Addr) []string {
	addr = addr.Unmap()
	if nets, ok := s.clients[addr]; ok {
		return nets
	}
	for i := range s.subnets {
		if s.subnets[i].prefix.Contains(addr) {
			return s.subnets[i].nets
		}
	}
	return nil
}

// View picks the view of the first of nets that the name has, or the
// default view.
func (n Name) View(nets []string) *View {
	if len(n.views) > 1 {
		for _, id := range nets {
			for i := 1; i < len(n.views); i++ {
				if n.views[i].Network == id {
					return &n.views[i]
				}
			}
		}
	}
	return &n.views[0]
}

// Views returns every view of the name, the default first.
func (n Name) Views() []View { return n.views }

// Set returns the RRSet of type t in view v, or nil.
func (v *View) Set(t uint16) *RRSet {
	switch t {
	case dns.TypeA:
		return v.A
	case dns.TypeAAAA:
		return v.AAAA
	case dns.TypeSRV:
		return v.SRV
	case dns.TypePTR:
		return v.PTR
	case dns.TypeNS:
		if v.zone != nil {
			return v.zone.ns
		}
	case dns.TypeSOA:
		if v.zone != nil {
			return v.zone.soa
		}
	}
	return nil
}

// Sets returns the view's RRSets, A, AAAA, SRV, PTR, NS, SOA, skipping
// the types it has not.
func (v *View) Sets() []*RRSet {
	var sets []*RRSet
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeNS, dns.TypeSOA} {
		if s := v.Set(t); s != nil {
			sets = append(sets, s)
		}
	}
	return sets
}

// Empty reports whether the view holds no record at all (an empty
// non-terminal, or a name whose tasks are all gone).
func (v *View) Empty() bool {
	return v.A == nil && v.AAAA == nil && v.SRV == nil && v.PTR == nil && v.zone == nil
}

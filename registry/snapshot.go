package registry

import (
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/scheduler"
)

// Snapshot is the registry at one moment, immutable once published. Every
// record is packed at build time; a query looks its name up, picks the view
// of the client's network and lets the RRSet order its records.
type Snapshot struct {
	// Domain is the zone, a lower-case FQDN ("swarm.local.").
	Domain string
	// Serial is the SOA serial; it grows with every published snapshot.
	Serial uint32
	Built  time.Time
	// Data is what the snapshot was built from; read only.
	Data *Data

	names map[string]*Name
	apex  *Name
	// soa is the zone's SOA record packed with its full owner name, for the
	// authority section of negative answers.
	soa []byte

	subnets []subnet
	clients map[netip.Addr][]string

	stats Stats
}

// Stats counts what a snapshot holds.
type Stats struct {
	Services, Tasks, Names int
}

type subnet struct {
	prefix netip.Prefix
	nets   []string
}

// Name is one owner name with its records, in one or more views.
type Name struct {
	// views[0] is the default view, for clients with no network context.
	views []View
	b     *nameB // while building
}

// View is a name's records as seen from one network.
type View struct {
	Network                    string // network ID; "" for the default view
	A, AAAA, SRV, PTR, NS, SOA *RRSet
}

// RRSet is the records of one type at one name in one view, packed in wire
// format with the owner name compressed to the question (0xC00C), so they
// can be copied behind any question for that name.
type RRSet struct {
	Type    uint16
	TTL     uint32
	Records [][]byte
	// Extra holds, per record, the additional-section records it brings
	// (the address of an SRV target), packed with full owner names.
	Extra [][]byte
	// ExtraCount is the number of records in each Extra.
	ExtraCount []int
	Weights    []uint32
	// Info describes each record for the operations API (task ID, "vip").
	Info []string

	order  scheduler.Orderer
	state  *scheduler.State
	limit  int
	policy string
	print  uint64
}

// Order appends to dst the indices of the records to answer, in order.
func (r *RRSet) Order(dst []int) []int {
	return r.order.Order(dst, r.state.Next(), r.limit)
}

// Peek appends the order the next query would get, without advancing the
// rotation (for the operations API).
func (r *RRSet) Peek(dst []int) []int {
	return r.order.Order(dst, r.state.Peek(), r.limit)
}

// Policy names the scheduler that orders this RRSet.
func (r *RRSet) Policy() string { return r.policy }

// Len is the number of records.
func (r *RRSet) Len() int { return len(r.Records) }

// Lookup returns the name with this key: lower case, relative to the zone
// (or an absolute reverse name such as "5.0.0.10.in-addr.arpa"), no
// trailing dot. The []byte to string conversion in a map index does not
// allocate.
func (s *Snapshot) Lookup(key []byte) *Name {
	return s.names[string(key)]
}

// Apex returns the zone apex (SOA and NS).
func (s *Snapshot) Apex() *Name { return s.apex }

// SOA returns the zone's SOA record packed with its full owner name.
func (s *Snapshot) SOA() []byte { return s.soa }

// Stats returns what the snapshot holds.
func (s *Snapshot) Stats() Stats { return s.stats }

// Names calls fn for every name key in the snapshot (slow; for the API).
func (s *Snapshot) Names(fn func(key string, n *Name)) {
	for k, n := range s.names {
		fn(k, n)
	}
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
func (n *Name) View(nets []string) *View {
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
func (n *Name) Views() []View { return n.views }

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
		return v.NS
	case dns.TypeSOA:
		return v.SOA
	}
	return nil
}

// Empty reports whether the view holds no record at all (an empty
// non-terminal, or a name whose tasks are all gone).
func (v *View) Empty() bool {
	return v.A == nil && v.AAAA == nil && v.SRV == nil && v.PTR == nil && v.NS == nil && v.SOA == nil
}

package server

import "github.com/swarmdns/swarmdns/registry"

// reply writes a response into a buffer owned by the caller, section by
// section, never past limit: a record that does not fit sets TC in the
// answer section and is silently left out of the additional section.
type reply struct {
	buf   []byte
	limit int
	// reserve keeps room for the OPT record at the end.
	reserve int
	an      int
	ns      int
	ar      int
	tc      bool
}

// start writes the header and the client's question (its exact bytes,
// case included) into buf. rcode's upper bits (EDNS extended RCODE) are
// written with the OPT record by finish.
func (r *reply) start(buf []byte, msg []byte, q *query, limit int, flags uint16) {
	r.buf = buf[:0]
	r.limit, r.an, r.ns, r.ar, r.tc = limit, 0, 0, 0, false
	r.reserve = 0
	if q.edns {
		r.reserve = optLen
	}
	if q.qclass == classANY {
		flags &^= flagAA // RFC 6895 section 3.2: we hold class IN only
	}
	flags |= flagQR | q.flags&(opcodeMask|flagRD|flagCD)
	r.buf = append(r.buf, byte(q.id>>8), byte(q.id), byte(flags>>8), byte(flags), 0, 0, 0, 0, 0, 0, 0, 0)
	if q.qend > headerLen {
		r.buf = append(r.buf, msg[headerLen:q.qend]...)
		r.buf[5] = 1
	}
}

func (r *reply) fits(n int) bool { return len(r.buf)+n+r.reserve <= r.limit }

// answer appends an answer record, or sets TC when it does not fit.
func (r *reply) answer(rr []byte) bool {
	if r.tc || !r.fits(len(rr)) {
		r.tc = true
		return false
	}
	r.buf = append(r.buf, rr...)
	r.an++
	return true
}

// authority appends an authority record (the SOA of a negative answer).
func (r *reply) authority(rr []byte) {
	if r.tc || !r.fits(len(rr)) {
		return
	}
	r.buf = append(r.buf, rr...)
	r.ns++
}

// additional appends records packed back to back (glue), each counted.
func (r *reply) additional(rrs []byte, count int) {
	if r.tc || count == 0 || !r.fits(len(rrs)) {
		return
	}
	r.buf = append(r.buf, rrs...)
	r.ar += count
}

const optLen = 11

// finish writes the counts, the rcode and the OPT record; it returns the
// reply.
func (r *reply) finish(q *query, rcode int) []byte {
	if q.edns {
		ttlHi := byte(rcode >> 4) // extended RCODE
		var flags byte
		if q.do {
			flags = 0x80
		}
		r.buf = append(r.buf, 0, 0, typeOPT, byte(ourUDPSize>>8), byte(ourUDPSize&0xFF), ttlHi, 0, flags, 0, 0, 0)
		r.ar++
	}
	if r.tc {
		r.buf[2] |= flagTC >> 8
	}
	r.buf[3] = r.buf[3]&0xF0 | byte(rcode&0xF)
	r.buf[6], r.buf[7] = byte(r.an>>8), byte(r.an)
	r.buf[8], r.buf[9] = byte(r.ns>>8), byte(r.ns)
	r.buf[10], r.buf[11] = byte(r.ar>>8), byte(r.ar)
	return r.buf
}

// rrset appends the records of set in the order its scheduler gives, with
// their additional records.
func (r *reply) rrset(set *registry.RRSet, order []int, peek bool) []int {
	if peek {
		order = set.Peek(order[:0])
	} else {
		order = set.Order(order[:0])
	}
	for _, i := range order {
		if !r.answer(set.Record(i)) {
			break
		}
	}
	if set.HasExtra() && !r.tc {
		for _, i := range order {
			r.additional(set.Extra(i))
		}
	}
	return order
}

package server

import "errors"

// DNS header flags and codes, as bits of the second header word.
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagCD = 1 << 4

	opcodeShift = 11
	opcodeMask  = 0xF << opcodeShift

	typeOPT  = 41
	typeTSIG = 250
	typeAXFR = 252
	typeIXFR = 251
	typeANY  = 255
	classIN  = 1
	classANY = 255

	headerLen  = 12
	ourUDPSize = 1232 // what we advertise (DNS flag day 2020)
)

// DefaultMaxUDPSize is the largest UDP reply by default, whatever larger
// buffer the client offers: 1232 bytes fit the IPv6 minimum MTU without
// fragments (DNS Flag Day 2020).
const DefaultMaxUDPSize = 1232

// query is what the hot path reads from a request, without copying it.
type query struct {
	id      uint16
	flags   uint16
	qend    int // end of the question section: the question is msg[12:qend]
	qtype   uint16
	qclass  uint16
	edns    bool
	tsig    bool // signed (RFC 8945)
	do      bool
	version uint8
	udpSize uint16
	// key is the lower-case question name with dots, no trailing dot, in
	// the scratch buffer; keyOK is false when a label holds a dot or the
	// name cannot be one of ours.
	key   []byte
	keyOK bool
}

var (
	errShort    = errors.New("message shorter than a header")
	errResponse = errors.New("message is a response")
	errFormat   = errors.New("malformed query")
	errNotImp   = errors.New("opcode other than QUERY")
)

// parseQuery reads the header, the one question and the OPT record of msg.
// errShort and errResponse mean no reply at all; errFormat means FORMERR
// (q.qend is 0 when not even the question could be read; q.edns is set
// when the OPT record itself is what is wrong); errNotImp means NOTIMP.
func parseQuery(msg []byte, q *query, keyBuf []byte) error {
	if len(msg) < headerLen {
		return errShort
	}
	q.id = uint16(msg[0])<<8 | uint16(msg[1])
	q.flags = uint16(msg[2])<<8 | uint16(msg[3])
	q.qend, q.edns, q.do, q.version, q.udpSize, q.tsig = 0, false, false, 0, 0, false
	if q.flags&flagQR != 0 {
		return errResponse
	}
	qd := uint16(msg[4])<<8 | uint16(msg[5])
	an := uint16(msg[6])<<8 | uint16(msg[7])
	ns := uint16(msg[8])<<8 | uint16(msg[9])
	ar := uint16(msg[10])<<8 | uint16(msg[11])
	if q.flags&opcodeMask != 0 {
		parseOtherOpcode(msg, q, keyBuf, qd, int(an)+int(ns), ar)
		return errNotImp
	}
	if qd != 1 {
		return errFormat
	}
	off, ok := parseName(msg, headerLen, q, keyBuf)
	if !ok || off+4 > len(msg) {
		return errFormat
	}
	q.qtype = uint16(msg[off])<<8 | uint16(msg[off+1])
	q.qclass = uint16(msg[off+2])<<8 | uint16(msg[off+3])
	off += 4
	q.qend = off
	if an != 0 || ns > 1 || ns == 1 && q.qtype != typeIXFR {
		return errFormat
	}
	if ns == 1 {
		// An IXFR carries the client's SOA in authority (RFC 1995).
		if off = skipRecord(msg, off); off < 0 {
			return errFormat
		}
	}
	return parseAdditional(msg, off, ar, q)
}

// parseOtherOpcode reads what it can of a message whose opcode is not
// QUERY (NOTIFY, UPDATE, or one not assigned), to echo its one question
// (the zone, for NOTIFY and UPDATE) and its OPT record in the NOTIMP reply (RFC 8906 section 3.1.4): its
// format is not ours to judge, so nothing in it is FORMERR.
func parseOtherOpcode(msg []byte, q *query, keyBuf []byte, qd uint16, records int, ar uint16) {
	if qd != 1 {
		return
	}
	off, ok := parseName(msg, headerLen, q, keyBuf)
	if !ok || off+4 > len(msg) {
		return
	}
	q.qtype = uint16(msg[off])<<8 | uint16(msg[off+1])
	q.qclass = uint16(msg[off+2])<<8 | uint16(msg[off+3])
	off += 4
	q.qend = off
	for ; records > 0 && off >= 0; records-- {
		off = skipRecord(msg, off)
	}
	if off >= 0 {
		parseAdditional(msg, off, ar, q)
	}
}

// skipRecord steps over one resource record; -1 when malformed.
func skipRecord(msg []byte, off int) int {
	if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
		return -1
	}
	if off += 10 + (int(msg[off+8])<<8 | int(msg[off+9])); off > len(msg) {
		return -1
	}
	return off
}

// parseAdditional reads the ar additional records at off and the OPT
// record among them.
func parseAdditional(msg []byte, off int, ar uint16, q *query) error {
	sawOPT := false
	for ; ar > 0; ar-- {
		// An additional record: owner name, type, class, TTL, RDATA.
		owner := off
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			if off >= 0 && off+2 <= len(msg) && msg[off] == 0 && msg[off+1] == typeOPT {
				q.edns = true // a truncated OPT: FORMERR with an OPT
			}
			return errFormat
		}
		t := uint16(msg[off])<<8 | uint16(msg[off+1])
		rdlen := int(msg[off+8])<<8 | int(msg[off+9])
		if t == typeOPT {
			// RFC 6891 section 7: a FORMERR for a bad OPT carries one.
			q.edns = true
		}
		if off+10+rdlen > len(msg) {
			return errFormat
		}
		q.tsig = t == typeTSIG
		if t == typeOPT {
			if sawOPT || msg[owner] != 0 || !optionsFit(msg[off+10:off+10+rdlen]) {
				return errFormat // RFC 6891: one OPT, owned by the root, options within its RDATA
			}
			sawOPT = true
			q.udpSize = uint16(msg[off+2])<<8 | uint16(msg[off+3])
			q.version = msg[off+5]
			q.do = msg[off+6]&0x80 != 0
		}
		off += 10 + rdlen
	}
	return nil
}

// optionsFit reports whether the EDNS options in an OPT RDATA each end
// within it.
func optionsFit(rdata []byte) bool {
	for len(rdata) > 0 {
		if len(rdata) < 4 {
			return false
		}
		n := 4 + (int(rdata[2])<<8 | int(rdata[3]))
		if n > len(rdata) {
			return false
		}
		rdata = rdata[n:]
	}
	return true
}

// parseName reads the uncompressed question name at off into q.key,
// lower-cased. It returns the offset after the name.
func parseName(msg []byte, off int, q *query, keyBuf []byte) (int, bool) {
	key := keyBuf[:0]
	q.keyOK = true
	total := 0
	for {
		if off >= len(msg) {
			return 0, false
		}
		l := int(msg[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(msg) {
			return 0, false // a pointer or a reserved label type, or truncated
		}
		if total += l + 1; total > 254 {
			return 0, false
		}
		if len(key) > 0 {
			key = append(key, '.')
		}
		for _, c := range msg[off : off+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			} else if c == '.' {
				q.keyOK = false
			}
			key = append(key, c)
		}
		off += l
	}
	q.key = key
	return off, true
}

// skipName steps over a possibly compressed name; -1 when malformed.
func skipName(msg []byte, off int) int {
	for {
		if off >= len(msg) {
			return -1
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return -1
			}
			return off + 2
		case l > 63:
			return -1
		}
		off += 1 + l
	}
}

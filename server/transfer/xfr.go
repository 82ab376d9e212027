package transfer

import (
	"bytes"
	"encoding/binary"
	"net"
	"time"

	"github.com/miekg/dns"
)

// msgLimit is the most a transfer message holds before its TSIG record:
// every message fits the 64 KB a TCP message can be.
const msgLimit = 65535 - 512

// stream writes the messages of one reply: each has the query's ID and
// question, as many records as fit, and a TSIG record when the query was
// signed.
type stream struct {
	conn net.Conn
	sign *signer
	// origin is the zone's name, the question's: owner names end in a
	// pointer to it.
	origin []byte
	raw    []byte // the query
	qend   int
	buf    []byte
	an     int
	stats  Stats
	err    error
}

// start begins a message: the header and the query's question.
func (w *stream) start(raw []byte, qend int, rcode int) {
	w.raw, w.qend = raw, qend
	flags := uint16(1<<15|1<<10) | uint16(raw[2]&0x01)<<8 | uint16(rcode&0xF) // QR, AA, RD echoed
	w.buf = append(w.buf[:0], raw[0], raw[1], byte(flags>>8), byte(flags), 0, 0, 0, 0, 0, 0, 0, 0)
	if qend > 12 && qend <= len(raw) {
		w.buf = append(w.buf, raw[12:qend]...)
		w.buf[5] = 1
	}
	w.an = 0
}

// finish sets the counts and signs the message.
func (w *stream) finish(now time.Time) []byte {
	binary.BigEndian.PutUint16(w.buf[6:], uint16(w.an))
	if w.sign != nil {
		w.buf = w.sign.sign(w.buf, now)
	}
	return w.buf
}

// add appends a record, first sending the message when it would not fit.
// An owner name under the zone is compressed to a pointer to the
// question, the zone's name.
func (w *stream) add(rr []byte) {
	if w.err != nil {
		return
	}
	cut := ownerSuffix(rr, w.origin)
	n := len(rr)
	if cut >= 0 {
		n = cut + 2 + len(rr) - (cut + len(w.origin))
	}
	if w.an > 0 && len(w.buf)+n > msgLimit {
		w.flush()
		w.start(w.raw, w.qend, dns.RcodeSuccess)
	}
	if cut >= 0 {
		w.buf = append(w.buf, rr[:cut]...)
		w.buf = append(w.buf, 0xC0, 0x0C)
		w.buf = append(w.buf, rr[cut+len(w.origin):]...)
	} else {
		w.buf = append(w.buf, rr...)
	}
	w.an++
	w.stats.Records++
}

// ownerSuffix returns where the owner name of rr ends in origin (both in
// wire format, lower case), or -1.
func ownerSuffix(rr, origin []byte) int {
	if len(origin) == 0 {
		return -1
	}
	for off := 0; off < len(rr); off += 1 + int(rr[off]) {
		if rr[off] == origin[0] && len(rr)-off >= len(origin) && bytes.Equal(rr[off:off+len(origin)], origin) {
			return off
		}
		if rr[off] == 0 || rr[off] > 63 {
			return -1
		}
	}
	return -1
}

// flush sends the message under way.
func (w *stream) flush() {
	if w.err != nil {
		return
	}
	out := w.finish(time.Now())
	w.stats.Messages++
	w.stats.Bytes += len(out)
	w.err = writeFramed(w.conn, out)
}

func writeFramed(conn net.Conn, msg []byte) error {
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(msg)))
	_, err := (&net.Buffers{l[:], msg}).WriteTo(conn)
	return err
}

// send writes the reply to an allowed AXFR or IXFR request to conn.
func (t *Transfer) send(conn net.Conn, raw []byte, r *request) (Stats, error) {
	z := r.zone
	w := &stream{conn: conn, sign: r.sign, buf: make([]byte, 0, msgLimit+512), origin: z.wire}
	w.start(raw, r.qend, dns.RcodeSuccess)
	w.add(z.soa)
	if r.msg.Question[0].Qtype == dns.TypeIXFR && r.hasSOA {
		if r.serial == z.serial || serialLess(z.serial, r.serial) {
			// Up to date (or ahead): the SOA alone says so.
			w.flush()
			return w.stats, w.err
		}
		if diffs, ok := r.st.hist[r.z].since(r.serial); ok {
			for _, d := range diffs {
				w.add(d.fromSOA)
				for _, rr := range d.removed {
					w.add([]byte(rr))
				}
				w.add(d.toSOA)
				for _, rr := range d.added {
					w.add([]byte(rr))
				}
			}
			w.add(z.soa)
			w.flush()
			return w.stats, w.err
		}
		// Older than the history: the whole zone, as AXFR has it.
	}
	z.each(w.add)
	w.add(z.soa)
	w.flush()
	return w.stats, w.err
}

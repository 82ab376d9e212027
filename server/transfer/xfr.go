package transfer

import (
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
	conn  net.Conn
	sign  *signer
	raw   []byte // the query
	qend  int
	buf   []byte
	an    int
	stats Stats
	err   error
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

// addBytes is add for a record in a zone's arena.
func (w *stream) addBytes(rr []byte) {
	if w.err != nil {
		return
	}
	if w.an > 0 && len(w.buf)+len(rr) > msgLimit {
		w.flush()
		w.start(w.raw, w.qend, dns.RcodeSuccess)
	}
	w.buf = append(w.buf, rr...)
	w.an++
	w.stats.Records++
}

// add appends a record, first sending the message when it would not fit.
func (w *stream) add(rr string) {
	if w.err != nil {
		return
	}
	if w.an > 0 && len(w.buf)+len(rr) > msgLimit {
		w.flush()
		w.start(w.raw, w.qend, dns.RcodeSuccess)
	}
	w.buf = append(w.buf, rr...)
	w.an++
	w.stats.Records++
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
	w := &stream{conn: conn, sign: r.sign, buf: make([]byte, 0, msgLimit+512)}
	w.start(raw, r.qend, dns.RcodeSuccess)
	z := r.zone
	w.add(string(z.soa))
	if r.msg.Question[0].Qtype == dns.TypeIXFR && r.hasSOA {
		if r.serial == z.serial || serialLess(z.serial, r.serial) {
			// Up to date (or ahead): the SOA alone says so.
			w.flush()
			return w.stats, w.err
		}
		if diffs, ok := r.st.hist[r.z].since(r.serial); ok {
			for _, d := range diffs {
				w.add(string(d.fromSOA))
				for _, rr := range d.removed {
					w.add(rr)
				}
				w.add(string(d.toSOA))
				for _, rr := range d.added {
					w.add(rr)
				}
			}
			w.add(string(z.soa))
			w.flush()
			return w.stats, w.err
		}
		// Older than the history: the whole zone, as AXFR has it.
	}
	for i := 0; i < z.len(); i++ {
		if z.dup == nil || !z.dup[i] {
			w.addBytes(z.record(uint32(i)))
		}
	}
	w.add(string(z.soa))
	w.flush()
	return w.stats, w.err
}

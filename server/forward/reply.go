package forward

import "github.com/miekg/dns"

// optLen is the wire size of the OPT record added to replies: root name,
// type, class, TTL and an empty RDATA.
const optLen = 11

// replyBlock holds a reply and its OPT record in one allocation.
type replyBlock struct {
	msg   dns.Msg
	opt   dns.OPT
	extra [1]dns.RR
}

// replyFrom builds the client's reply from a flight's result.
func (r *request) replyFrom(res result) (*dns.Msg, error) {
	switch {
	case res.err != nil:
		return nil, res.err
	case res.entry != nil:
		return r.reply(&res.entry.hdr, res.view.answer, res.view.ns, res.view.extra, res.entry.size), nil
	default:
		m := res.msg
		return r.reply(&m.MsgHdr, m.Answer, m.Ns, m.Extra, -1), nil
	}
}

// reply assembles the client's reply around shared, read-only records. The
// record slices must have len == cap, so that appending (our OPT, or a
// caller's) copies instead of writing into the shared array. size is the
// wire size without OPT, or -1 if unknown.
func (r *request) reply(hdr *dns.MsgHdr, answer, ns, extra []dns.RR, size int) *dns.Msg {
	b := new(replyBlock)
	m := &b.msg
	m.MsgHdr = *hdr
	m.Compress = true
	m.Question, m.Answer, m.Ns, m.Extra = r.q.Question, answer, ns, extra
	m.Id = r.q.Id
	m.Response = true
	m.Opcode = r.q.Opcode
	m.RecursionDesired = r.q.RecursionDesired
	m.CheckingDisabled = r.q.CheckingDisabled
	// RFC 6840 section 5.8: AD only for clients that showed they read it.
	m.AuthenticatedData = hdr.AuthenticatedData && (r.key.do || r.q.AuthenticatedData)
	if r.edns {
		opt := &b.opt
		opt.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: uint16(r.udpSize())}
		if r.key.do {
			opt.SetDo()
		}
		if len(extra) == 0 {
			b.extra[0] = opt
			m.Extra = b.extra[:]
		} else {
			m.Extra = append(extra, opt)
		}
		if size >= 0 {
			size += optLen
		}
	} else if m.Rcode > 0xF {
		// An extended RCODE needs an OPT record the client did not ask for.
		m.Rcode = dns.RcodeServerFailure
	}
	if r.tcp {
		return m
	}
	if size < 0 {
		size = m.Len()
	}
	if size > r.udpSize() {
		m.Truncate(r.udpSize())
	}
	return m
}

// stripOPT removes upstream's OPT record (its size, options and flags are
// not ours to relay) and makes every section len == cap.
func stripOPT(m *dns.Msg) {
	extra := m.Extra[:0:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	m.Extra = extra[:len(extra):len(extra)]
	m.Answer = m.Answer[:len(m.Answer):len(m.Answer)]
	m.Ns = m.Ns[:len(m.Ns):len(m.Ns)]
}

package ops

import (
	"strconv"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/server"
)

// QueryLog is a server.Observer that logs each reply as one structured line at
// info level (--log-queries). A line costs a log write on the query path;
// it can be switched on and off while serving.
type QueryLog struct {
	log *logrus.Entry
	on  atomic.Bool
}

// NewQueryLog returns a query log writing to log, on or off.
func NewQueryLog(log *logrus.Entry, on bool) *QueryLog {
	q := &QueryLog{log: log}
	q.on.Store(on)
	return q
}

// SetEnabled switches the log on or off.
func (q *QueryLog) SetEnabled(on bool) { q.on.Store(on) }

// Enabled says whether the log is on.
func (q *QueryLog) Enabled() bool { return q.on.Load() }

// Observe implements server.Observer.
func (q *QueryLog) Observe(ev *server.Event) {
	if !q.on.Load() {
		return
	}
	proto := "udp"
	if ev.TCP {
		proto = "tcp"
	}
	qtype, ok := dns.TypeToString[ev.Qtype]
	if !ok {
		qtype = "TYPE" + strconv.Itoa(int(ev.Qtype))
	}
	rcode, ok := dns.RcodeToString[ev.Rcode]
	if !ok {
		rcode = strconv.Itoa(ev.Rcode)
	}
	name := "."
	if len(ev.Name) > 0 {
		name = string(ev.Name) + "."
	}
	q.log.WithFields(logrus.Fields{
		"client":    ev.Client.Addr().String(),
		"proto":     proto,
		"name":      name,
		"type":      qtype,
		"rcode":     rcode,
		"path":      ev.Path.String(),
		"answers":   ev.Answers,
		"size":      ev.Size,
		"truncated": ev.Truncated,
		"duration":  ev.Took.String(),
	}).Info("query")
}

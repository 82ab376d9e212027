package ops

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/server"
)

func TestQueryLog(t *testing.T) {
	tests := []struct {
		name string
		on   bool
		ev   server.Event
		want map[string]any // nil: no line
	}{
		{"off logs nothing", false, server.Event{Qtype: dns.TypeA}, nil},
		{"a zone answer names client, name, type, rcode, answers and duration", true,
			server.Event{Client: netip.MustParseAddrPort("10.0.1.5:40000"), Name: []byte("tasks.web"), Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Path: server.PathZone, Answers: 3, Size: 120, Took: 42 * time.Microsecond},
			map[string]any{"msg": "query", "client": "10.0.1.5", "name": "tasks.web.", "type": "A", "rcode": "NOERROR", "answers": 3.0, "duration": "42µs", "path": "zone", "proto": "udp"}},
		{"a TCP query says tcp", true,
			server.Event{Client: netip.MustParseAddrPort("[fd00::1]:53"), TCP: true, Name: []byte("web"), Qtype: dns.TypeAAAA, Rcode: dns.RcodeNameError},
			map[string]any{"client": "fd00::1", "proto": "tcp", "type": "AAAA", "rcode": "NXDOMAIN"}},
		{"an unreadable name logs the root", true, server.Event{Rcode: dns.RcodeFormatError, Path: server.PathError},
			map[string]any{"name": ".", "rcode": "FORMERR", "path": "error"}},
		{"an unknown type is TYPEn", true, server.Event{Name: []byte("x"), Qtype: 65280},
			map[string]any{"type": "TYPE65280"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := logrus.New()
			l.SetOutput(&buf)
			l.SetFormatter(&logrus.JSONFormatter{})
			q := NewQueryLog(logrus.NewEntry(l), tt.on)
			server.Observers{q}.Observe(&tt.ev)
			if tt.want == nil {
				if buf.Len() != 0 {
					t.Errorf("logged %s", buf.String())
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not one JSON line: %q", buf.String())
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestQueryLogSwitches(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(&buf)
	q := NewQueryLog(logrus.NewEntry(l), false)
	q.SetEnabled(true)
	q.Observe(&server.Event{Name: []byte("web")})
	if !q.Enabled() || buf.Len() == 0 {
		t.Error("switched on but logged nothing")
	}
}

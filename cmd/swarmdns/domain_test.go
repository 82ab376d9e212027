package main

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestADomainUnderLocalIsWarnedAbout(t *testing.T) {
	tests := []struct {
		name   string
		domain string
		warns  bool
	}{
		{"the old default", "swarm.local.", true},
		{"without the final dot", "swarm.local", true},
		{"local itself", "local.", true},
		{"a deeper name under local", "prod.swarm.local.", true},
		{"the default", "swarm.internal.", false},
		{"a label that ends in local is not under .local", "swarm.nonlocal.", false},
		{"local as an inner label", "local.example.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mdnsDomainWarning(tt.domain)
			if (w != "") != tt.warns {
				t.Fatalf("mdnsDomainWarning(%q) = %q, want a warning: %v", tt.domain, w, tt.warns)
			}
			if tt.warns && (!strings.Contains(w, "RFC 6762") || !strings.Contains(w, "swarm.internal.")) {
				t.Errorf("the warning %q does not say why or what to use instead", w)
			}
		})
	}
}

// TestTheDefaultDomainIsSwarmInternal runs the real swarmdns serve and asks
// it over UDP.
func TestTheDefaultDomainIsSwarmInternal(t *testing.T) {
	p := startServe(t)
	if r := p.query(t, "web.swarm.internal."); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("web.swarm.internal.: %s with %d answers, want the VIP", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	if r := p.query(t, "web.swarm.local."); r.Rcode != dns.RcodeRefused {
		t.Errorf("web.swarm.local.: %s, want REFUSED: it is not in the zone", dns.RcodeToString[r.Rcode])
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.lines {
		if msg, _ := m["msg"].(string); strings.Contains(msg, "RFC 6762") {
			t.Errorf("the default domain is warned about: %v", m)
		}
	}
}

// TestServeWarnsAboutADomainUnderLocal runs the real swarmdns serve with
// the old default domain: it serves it, and says once why it should not.
func TestServeWarnsAboutADomainUnderLocal(t *testing.T) {
	p := startServe(t, "--domain", "swarm.local.")
	m := p.waitLog(t, func(m map[string]any) bool {
		msg, _ := m["msg"].(string)
		return strings.Contains(msg, "RFC 6762")
	})
	if m["level"] != "warning" || m["domain"] != "swarm.local." {
		t.Errorf("warning line %v: want level warning and the domain", m)
	}
	if r := p.query(t, "web.swarm.local."); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("web.swarm.local. under --domain swarm.local.: %s, want the VIP", dns.RcodeToString[r.Rcode])
	}
}

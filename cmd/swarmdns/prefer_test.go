package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// zonedRegistry runs on node-a, in zone eu with node-b; node-c is in us.
const zonedRegistry = `local_node: node-a
networks:
  - {name: appnet, subnets: [10.0.1.0/24]}
nodes:
  - {id: node-a, labels: {zone: eu}}
  - {id: node-b, labels: {zone: eu}}
  - {id: node-c, labels: {zone: us}}
services:
  - name: web
    endpoint_mode: dnsrr
    ports: [{name: http, target: 80}]
    networks: [{name: appnet}]
    tasks:
      - {id: ta, slot: 1, node: node-a, addresses: {appnet: [10.0.1.1]}}
      - {id: tb, slot: 2, node: node-b, addresses: {appnet: [10.0.1.2]}}
      - {id: tc, slot: 3, node: node-c, addresses: {appnet: [10.0.1.3]}}
`

// TestPreferLabelFlagOrdersTheRealServersAnswers runs the real process
// with --prefer-local and --prefer-label zone on a registry file and asks
// it over UDP: node-a's task first, node-b's (same zone) second, node-c's
// last, in every answer; SRV priorities 0, 1, 2.
func TestPreferLabelFlagOrdersTheRealServersAnswers(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "registry.yaml")
	if err := os.WriteFile(reg, []byte(zonedRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "--registry-file", reg, "--prefer-local", "--prefer-label", "zone")
	for q := 0; q < 3; q++ {
		var got []string
		for _, rr := range p.query(t, "web.").Answer {
			got = append(got, rr.(*dns.A).A.String())
		}
		if strings.Join(got, " ") != "10.0.1.1 10.0.1.2 10.0.1.3" {
			t.Fatalf("query %d: %v, want this node's task, then its zone's, then the rest", q, got)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("_http._tcp.web.", dns.TypeSRV)
	resp, _, err := new(dns.Client).Exchange(m, p.dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint16{"web.1.ta.swarm.internal.": 0, "web.2.tb.swarm.internal.": 1, "web.3.tc.swarm.internal.": 2}
	if len(resp.Answer) != len(want) {
		t.Fatalf("SRV answer %v", resp.Answer)
	}
	for _, rr := range resp.Answer {
		srv := rr.(*dns.SRV)
		if prio, ok := want[srv.Target]; !ok || srv.Priority != prio {
			t.Errorf("SRV %v: want priority %d", srv, prio)
		}
	}
}

func TestPreferLabelWantsALabelKey(t *testing.T) {
	cmd := newServeCommand()
	cmd.SetArgs([]string{"--prefer-label", "zone=eu", "--listen", "127.0.0.1:0", "--http-listen", ""})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), `--prefer-label "zone=eu": want the key of a node label`) {
		t.Fatalf("err = %v", err)
	}
}

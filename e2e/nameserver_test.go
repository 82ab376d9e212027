//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/server/forward/dnsmasqtest"
)

// TestOnlyNameserverOfContainers drives real containers that the real
// dockerd starts with `docker run --dns <swarmdns>`, one on the host network
// and one on the default bridge, and resolves with the busybox nslookup
// inside them, which reads the resolv.conf Docker wrote: a Swarm name
// (tasks.<svc>) is answered by swarmdns from the real Swarm, and a name it
// does not know (one.test) is forwarded to a real Debian dnsmasq upstream on
// loopback. docs/deployment.md, "How containers and hosts use it".
func TestOnlyNameserverOfContainers(t *testing.T) {
	upstream := dnsmasqtest.Start(t)
	bridgeGW, err := defaultBridgeGateway()
	if err != nil {
		t.Fatal(err)
	}
	// resolv.conf has no port: swarmdns must be on 53, on loopback for the
	// host network and on the bridge gateway for the bridge.
	hostNS := startInstance(t, "127.0.0.1:53", false, "--upstream", upstream.Addr.String())
	bridgeNS := startInstance(t, bridgeGW+":53", false, "--upstream", upstream.Addr.String())

	ctx := context.Background()
	svc := fx.rr
	want, err := fx.addrsOn(ctx, svc, fx.netAID)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []*instance{hostNS, bridgeNS} {
		r := in.resolver()
		if err := waitFor(10*time.Second, func() bool {
			return strings.Join(r.query("tasks."+svc, dns.TypeA, time.Second).a, ",") == strings.Join(want, ",")
		}); err != nil {
			if in.exited() {
				t.Fatalf("swarmdns on %s exited (port 53 taken?)", in.addr)
			}
			t.Fatalf("swarmdns on %s does not serve tasks.%s: %v", in.addr, svc, err)
		}
	}

	cases := []struct {
		name    string
		network string
		dns     string
	}{
		{"host-network container with --dns 127.0.0.1 resolves Swarm and forwarded names", "host", "127.0.0.1"},
		{"default-bridge container with --dns <bridge gateway> resolves Swarm and forwarded names", "bridge", bridgeGW},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctr := mustDocker(t, "run", "-d", "--rm", "--label", "swarmdns-test=1", "--network", tc.network, "--dns", tc.dns, image, "sleep", "300")
			t.Cleanup(func() { docker("rm", "-f", ctr) })
			conf := mustDocker(t, "exec", ctr, "cat", "/etc/resolv.conf")
			if ns := nameservers(conf); !slices.Equal(ns, []string{tc.dns}) {
				t.Fatalf("resolv.conf names %v, want only %s:\n%s", ns, tc.dns, conf)
			}
			before := upstream.Queries(t, dns.TypeA, "one.test")
			if got := nslookup(t, ctr, "tasks."+svc); !slices.Equal(got, want) {
				t.Errorf("nslookup tasks.%s = %v, want the running tasks %v", svc, got, want)
			}
			if got := nslookup(t, ctr, "one.test"); !slices.Equal(got, []string{"10.0.0.1"}) {
				t.Errorf("nslookup one.test = %v, want 10.0.0.1 from dnsmasq", got)
			}
			if n := upstream.Queries(t, dns.TypeA, "one.test") - before; n < 1 {
				t.Errorf("one.test never reached dnsmasq (%d queries): not forwarded by swarmdns", n)
			}
		})
	}
}

// nameservers lists the nameserver lines of a resolv.conf.
func nameservers(conf string) []string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
			out = append(out, f[1])
		}
	}
	return out
}

// nslookup runs busybox nslookup for the A records of name inside the
// container, which asks the nameserver of its resolv.conf, and returns
// the addresses, sorted.
func nslookup(t *testing.T, ctr, name string) []string {
	t.Helper()
	out, err := docker("exec", ctr, "nslookup", "-type=a", name)
	if err != nil {
		t.Fatalf("nslookup %s: %v\n%s", name, err, out)
	}
	var addrs []string
	answers := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 1 && f[0] == "Name:":
			answers = true
		case answers && len(f) == 2 && f[0] == "Address:":
			addrs = append(addrs, f[1])
		}
	}
	slices.Sort(addrs)
	return addrs
}

// defaultBridgeGateway is the default bridge's gateway address: the IPAM
// gateway when the engine lists one, else the bridge interface's own
// IPv4 address (an engine started with --bip may list no gateway).
func defaultBridgeGateway() (string, error) {
	gw, err := docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge")
	if err != nil {
		return "", err
	}
	if gw = strings.TrimSpace(gw); gw != "" {
		return gw, nil
	}
	ifi, err := net.InterfaceByName("docker0")
	if err != nil {
		return "", fmt.Errorf("default bridge: no gateway listed and no docker0: %w", err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return "", fmt.Errorf("docker0 addresses: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("default bridge: no gateway listed and docker0 has no IPv4 address")
}

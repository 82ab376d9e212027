//go:build multinode

package multinode

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

// A container on a node reaches NodeLocalDNS bound on the node's loopback
// (AddLinkLocal) through its default route, from an overlay network and
// from the default bridge, and cannot from an --internal network, which
// has no route off the container. Driven on a worker, where issue 14's
// sidecar is new: a real container, the real dig, a DNS server in the
// worker's network namespace.
func TestContainerReachesItsNodesLinkLocalAddress(t *testing.T) {
	n := bed.Workers()[0]
	serveProbe(t, n)
	overlay, internal := UniqueName("mn-net"), UniqueName("mn-internal")
	bed.Network(t, overlay)
	bed.Network(t, internal, "--internal")

	for _, tc := range []struct {
		name    string
		network string
		reaches bool
	}{
		{"container on an overlay network reaches it through docker_gwbridge", overlay, true},
		{"container on the default bridge reaches it through docker0", "bridge", true},
		{"container on an internal overlay has no route to it", internal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := n.Container(t, UniqueName("mn-client"), []string{"--network", tc.network}, Sleeper...)
			pid, err := n.ContainerPID(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := LookupA(t.Context(), pid, NodeLocalDNS.String(), probeName)
			switch {
			case tc.reaches && err != nil:
				t.Fatalf("want an answer from %s on %s: %v", NodeLocalDNS, n, err)
			case tc.reaches && !slices.Equal(got, []netip.Addr{n.Addr}):
				t.Fatalf("%s answered %v, want %s's own address %s", NodeLocalDNS, got, n, n.Addr)
			case !tc.reaches && err == nil:
				t.Fatalf("want no answer from %s, got %v", net.JoinHostPort(NodeLocalDNS.String(), "53"), got)
			}
		})
	}
}

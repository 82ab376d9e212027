//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"net/netip"
)

// NodeLocalDNS is the link-local address, the same on every node, where a
// node's sidecar listens (issue 14; as Kubernetes' NodeLocal DNSCache
// uses 169.254.20.10).
var NodeLocalDNS = netip.MustParseAddr("169.254.53.53")

// AddLinkLocal binds addr (/32) to the loopback device of the node's
// network namespace and returns the function that removes it. That is the
// whole step: a container on an overlay or bridge network of the node then
// reaches addr through its default route (the docker_gwbridge or docker0
// gateway, which is the node), with no route, rp_filter or iptables
// change; the answer goes back the same way. This kernel has no dummy
// module, so lo it is. A container on an --internal network has no default
// route and does not reach it.
func (n *Node) AddLinkLocal(ctx context.Context, addr netip.Addr) (remove func(context.Context) error, err error) {
	prefix := netip.PrefixFrom(addr, addr.BitLen()).String()
	if _, err := n.Exec(ctx, "ip", "addr", "add", prefix, "dev", "lo"); err != nil {
		return nil, fmt.Errorf("add %s to lo of %s: %w", prefix, n, err)
	}
	return func(ctx context.Context) error {
		if _, err := n.Exec(ctx, "ip", "addr", "del", prefix, "dev", "lo"); err != nil {
			return fmt.Errorf("remove %s from lo of %s: %w", prefix, n, err)
		}
		return nil
	}, nil
}

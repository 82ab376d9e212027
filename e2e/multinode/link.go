//go:build multinode

package multinode

import (
	"context"
	"fmt"
)

// veth is the host end of the node's link to the bridge.
func (n *Node) veth() string { return "veth-" + n.Name }

// CutLink takes the node's link down: it reaches no other node and no
// other node reaches it, while its engine and containers keep running.
func (n *Node) CutLink(ctx context.Context) error {
	if _, err := run(ctx, "ip", "link", "set", n.veth(), "down"); err != nil {
		return fmt.Errorf("cut link of %s: %w", n, err)
	}
	return nil
}

// HealLink brings the node's link back up.
func (n *Node) HealLink(ctx context.Context) error {
	if _, err := run(ctx, "ip", "link", "set", n.veth(), "up"); err != nil {
		return fmt.Errorf("heal link of %s: %w", n, err)
	}
	return nil
}

package registry

// locality is where a task runs as --prefer-local and --prefer-label see
// it. An answer gives the tasks of this node first, then those on nodes
// with this node's label value, then the rest, rotating within each tier;
// SRV records number the tiers as priorities.
type locality uint8

const (
	elsewhere locality = iota // another node, a VIP, or no preference asked
	sameLabel                 // a node whose Config.PreferLabel label has this node's value
	thisNode                  // Data.LocalNode, with Config.PreferLocal
)

// tiers lists the localities in answer order.
var tiers = [...]locality{thisNode, sameLabel, elsewhere}

// localities tells a task's locality by its node.
type localities struct {
	node  string // Data.LocalNode with Config.PreferLocal, else ""
	label string // Config.PreferLabel when this node has that label, else ""
	value string // this node's value of label
	// priority is the SRV priority of each locality: 0 for the first tier
	// in use, one more for each tier in use after it.
	priority [len(tiers)]uint16
}

// newLocalities reads this node's tiers from the configuration and the
// node's labels. With the node unknown, or without the label, a tier
// falls away rather than match nothing or everything.
func newLocalities(d *Data, cfg Config) localities {
	var l localities
	if d.LocalNode != "" && cfg.PreferLocal {
		l.node = d.LocalNode
	}
	if d.LocalNode != "" && cfg.PreferLabel != "" {
		for i := range d.Nodes {
			if n := &d.Nodes[i]; n.ID == d.LocalNode {
				if v, ok := n.Labels[cfg.PreferLabel]; ok {
					l.label, l.value = cfg.PreferLabel, v
				}
				break
			}
		}
	}
	p := uint16(0)
	for _, t := range tiers {
		l.priority[t] = p
		if t == thisNode && l.node != "" || t == sameLabel && l.label != "" {
			p++
		}
	}
	return l
}

// of returns the locality of a task on the node with this ID.
func (l *localities) of(nodeID string, nodes map[string]*Node) locality {
	switch {
	case nodeID == "":
		return elsewhere
	case l.node != "" && nodeID == l.node:
		return thisNode
	case l.label != "":
		if n := nodes[nodeID]; n != nil {
			if v, ok := n.Labels[l.label]; ok && v == l.value {
				return sameLabel
			}
		}
	}
	return elsewhere
}

//go:build multinode

package multinode

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Image is the busybox test image multinode-up.sh loads into every engine.
const Image = "swarmdns-test/busybox:latest"

// Label marks what the tests create, so that a test bed can be cleaned.
const Label = "swarmdns-test"

// Role is a node's role in its Swarm.
type Role string

const (
	Manager Role = "manager"
	Worker  Role = "worker"
)

// Cluster is the test bed as multinode-up.sh recorded it.
type Cluster struct {
	Nodes []*Node // the Swarm's nodes, sw1 (tw1; where the Swarm was created) first
	Other *Node   // the separate one-node Swarm (swx, twx), nil when not brought up
}

// Dir is where multinode-up.sh keeps its state: $MULTINODE_DIR, else
// /var/lib/swarmdns-multinode, or /var/lib/swarmdns-multinode2 for the
// second test bed (MULTINODE_BED=2, nodes tw1…).
func Dir() string {
	if d := os.Getenv("MULTINODE_DIR"); d != "" {
		return d
	}
	if os.Getenv("MULTINODE_BED") == "2" {
		return "/var/lib/swarmdns-multinode2"
	}
	return "/var/lib/swarmdns-multinode"
}

// Load reads the test bed from Dir()/nodes.
func Load() (*Cluster, error) {
	path := filepath.Join(Dir(), "nodes")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read test bed %s (run scripts/multinode-up.sh): %w", path, err)
	}
	defer f.Close()
	c := &Cluster{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		n, err := parseNode(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("read test bed %s:%d: %w", path, line, err)
		}
		if n.Cluster == "main" {
			c.Nodes = append(c.Nodes, n)
		} else {
			c.Other = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read test bed %s: %w", path, err)
	}
	if len(c.Nodes) == 0 {
		return nil, fmt.Errorf("read test bed %s: no nodes", path)
	}
	return c, nil
}

// parseNode reads "name address role cluster socket netns launcher".
func parseNode(line string) (*Node, error) {
	f := strings.Fields(line)
	if len(f) != 7 {
		return nil, fmt.Errorf("want 7 fields, got %d in %q", len(f), line)
	}
	addr, err := netip.ParseAddr(f[1])
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", f[0], err)
	}
	role := Role(f[2])
	if role != Manager && role != Worker {
		return nil, fmt.Errorf("node %s: role %q is neither manager nor worker", f[0], f[2])
	}
	return &Node{Name: f[0], Addr: addr, Role: role, Cluster: f[3], Socket: f[4], Netns: f[5], launcher: f[6]}, nil
}

// Node returns the node called name (the Swarm's or the other one), or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	if c.Other != nil && c.Other.Name == name {
		return c.Other
	}
	return nil
}

// Managers returns the Swarm's manager nodes.
func (c *Cluster) Managers() []*Node { return c.withRole(Manager) }

// Workers returns the Swarm's worker nodes.
func (c *Cluster) Workers() []*Node { return c.withRole(Worker) }

func (c *Cluster) withRole(r Role) []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// Manager returns the node the Swarm was created on, a manager whose API
// answers service, task and node requests.
func (c *Cluster) Manager() *Node { return c.Nodes[0] }

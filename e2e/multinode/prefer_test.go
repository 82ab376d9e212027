//go:build multinode

package multinode

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zoneLabel is the node label the sidecars prefer by (--prefer-label).
const zoneLabel = "zone"

// preferQueries is how many queries of each type every node's task asks:
// each one must be ordered by tier.
const preferQueries = 20

// labelNodes sets the node label key to zone[n] on each node n, and removes
// it when the test ends.
func labelNodes(t *testing.T, key string, zone map[*Node]string) {
	t.Helper()
	for n, v := range zone {
		if _, err := bed.Manager().Docker(t.Context(), "node", "update", "--label-add", key+"="+v, n.Name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := bed.Manager().Docker(context.Background(), "node", "update", "--label-rm", key, n.Name); err != nil {
				t.Errorf("remove label %s of %s: %v", key, n, err)
			}
		})
	}
}

// resolvConfResolver opens a Resolver in the network namespace of the
// container id on node n (first process pid) that asks the first
// nameserver of the container's own /etc/resolv.conf, which must be the
// node-local address: the server every resolver library in the container
// would ask. An in-process client, unlike busybox nslookup, keeps the
// records in the order they came.
func resolvConfResolver(t *testing.T, n *Node, id string, pid int) *Resolver {
	t.Helper()
	conf, err := n.Docker(t.Context(), "exec", id, "cat", "/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	var server netip.Addr
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() && !server.IsValid() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "nameserver" {
			if server, err = netip.ParseAddr(f[1]); err != nil {
				t.Fatalf("%s: /etc/resolv.conf of web's task: %v", n, err)
			}
		}
	}
	if server != NodeLocalDNS {
		t.Fatalf("%s: /etc/resolv.conf of web's task names %v first, want the node-local %s:\n%s", n, server, NodeLocalDNS, conf)
	}
	r, err := OpenResolver(ContainerNetns(pid), netip.AddrPortFrom(server, 53))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// checkTiers checks that answer (the node of each record's task, in answer
// order) has a task on every node, each once, this node's first, then the
// other nodes of its zone, then the rest: tier(answer[i]) never falls.
func checkTiers(answer []*Node, tier func(*Node) int) error {
	seen := map[*Node]bool{}
	for i, m := range answer {
		switch {
		case seen[m]:
			return fmt.Errorf("%s's task twice", m)
		case i > 0 && tier(m) < tier(answer[i-1]):
			return fmt.Errorf("%s (tier %d) after %s (tier %d)", m, tier(m), answer[i-1], tier(answer[i-1]))
		}
		seen[m] = true
	}
	if len(answer) != len(bed.Nodes) {
		return fmt.Errorf("%d records, want a task per node (%d)", len(answer), len(bed.Nodes))
	}
	return nil
}

// leaders records, for each tier, which nodes' tasks came first in it.
type leaders map[int]map[*Node]bool

func (l leaders) add(answer []*Node, tier func(*Node) int) {
	for i, m := range answer {
		if i == 0 || tier(answer[i-1]) != tier(m) {
			if l[tier(m)] == nil {
				l[tier(m)] = map[*Node]bool{}
			}
			l[tier(m)][m] = true
		}
	}
}

// check says which node of a tier of several never led it: the policy
// rotates within each tier.
func (l leaders) check(tier func(*Node) int) error {
	for _, m := range bed.Nodes {
		peers := 0
		for _, o := range bed.Nodes {
			if tier(o) == tier(m) {
				peers++
			}
		}
		if peers > 1 && !l[tier(m)][m] {
			return fmt.Errorf("%s's task never came first among the %d of tier %d", m, peers, tier(m))
		}
	}
	return nil
}

// deploy/stack.yml with SWARMDNS_PREFER_LOCAL=true and
// SWARMDNS_PREFER_LABEL=zone on the real Swarm, the first node labelled
// zone=a and every other zone=b (by default a manager alone in a, a manager
// and the worker in b): from the task of a global service on each node,
// asking the nameserver of the task's /etc/resolv.conf (the stack's
// swarmdns-resolv config: its node's sidecar), every answer of tasks.<svc>
// has this node's task first, then the tasks of the other nodes of its
// zone, then the rest, rotating within each tier; the SRV records of
// _http._tcp.<svc> say the same with priorities 0, 1 and 2. On the worker
// the node is the worker itself and the labels come from the manager it
// follows. Driven with the real dockerds, node labels and containers.
func TestPreferLocalAndLabelOnEveryNode(t *testing.T) {
	if len(bed.Nodes) < 3 || len(bed.Workers()) == 0 || len(bed.Managers()) < 2 {
		t.Fatalf("the test needs two managers and a worker (the bed has %d managers, %d workers)", len(bed.Managers()), len(bed.Workers()))
	}
	zone := map[*Node]string{}
	for i, n := range bed.Nodes {
		zone[n] = "b"
		if i == 0 {
			zone[n] = "a"
		}
	}
	labelNodes(t, zoneLabel, zone)
	deploySidecars(t, map[string]string{"SWARMDNS_PREFER_LOCAL": "true", "SWARMDNS_PREFER_LABEL": zoneLabel})
	w := newWebOnEveryNode(t)
	byAddr, byTask := map[netip.Addr]*Node{}, map[string]*Node{}
	for _, tk := range w.webTasks {
		byAddr[tk.Addrs[w.a]], byTask[tk.ID] = tk.Node, tk.Node
	}
	srvName := "_http._tcp." + w.web

	for _, n := range bed.Nodes {
		t.Run(fmt.Sprintf("%s, a %s in zone %s", n, n.Role, zone[n]), func(t *testing.T) {
			tier := func(m *Node) int {
				switch {
				case m == n:
					return 0
				case zone[m] == zone[n]:
					return 1
				}
				return 2
			}
			r := resolvConfResolver(t, n, w.container[n], w.pid[n])
			// The A answer's records, as the nodes of their tasks.
			askA := func() ([]*Node, error) {
				m, err := r.Exchange("tasks."+w.web, dns.TypeA, time.Second)
				if err != nil {
					return nil, err
				}
				var answer []*Node
				for _, rr := range m.Answer {
					var on *Node
					if a, ok := rr.(*dns.A); ok {
						addr, _ := netip.AddrFromSlice(a.A.To4())
						on = byAddr[addr]
					}
					if on == nil {
						return nil, fmt.Errorf("tasks.%s: %s is no task of web", w.web, rr)
					}
					answer = append(answer, on)
				}
				return answer, nil
			}
			// Wait for the labels, which a follower has from its manager.
			err := Eventually(t.Context(), 10*time.Second, 100*time.Millisecond, func(context.Context) error {
				answer, err := askA()
				if err == nil {
					err = checkTiers(answer, tier)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}

			t.Run("every A answer: this node's task, its zone's, the rest", func(t *testing.T) {
				led := leaders{}
				for i := range preferQueries {
					answer, err := askA()
					if err == nil {
						err = checkTiers(answer, tier)
					}
					if err != nil {
						t.Fatalf("query %d: %v (answer %v)", i, err, answer)
					}
					led.add(answer, tier)
				}
				if err := led.check(tier); err != nil {
					t.Errorf("%d queries: %v", preferQueries, err)
				}
			})

			t.Run("every SRV answer: priority 0 this node, 1 its zone, 2 the rest", func(t *testing.T) {
				led := leaders{}
				for i := range preferQueries {
					m, err := r.Exchange(srvName, dns.TypeSRV, time.Second)
					if err != nil {
						t.Fatal(err)
					}
					var answer []*Node
					for _, rr := range m.Answer {
						srv, ok := rr.(*dns.SRV)
						if !ok {
							t.Fatalf("query %d: %s in the SRV answer", i, rr)
						}
						var on *Node // the node of the task the target names
						for _, l := range dns.SplitDomainName(srv.Target) {
							if byTask[l] != nil {
								on = byTask[l]
							}
						}
						switch {
						case on == nil:
							t.Fatalf("query %d: target %s names no task of web", i, srv.Target)
						case int(srv.Priority) != tier(on):
							t.Fatalf("query %d: %s's task %s has priority %d, want %d", i, on, srv.Target, srv.Priority, tier(on))
						}
						answer = append(answer, on)
					}
					if err := checkTiers(answer, tier); err != nil {
						t.Fatalf("query %d: %v (answer %v)", i, err, answer)
					}
					led.add(answer, tier)
				}
				if err := led.check(tier); err != nil {
					t.Errorf("%d queries: %v", preferQueries, err)
				}
			})
		})
	}
}

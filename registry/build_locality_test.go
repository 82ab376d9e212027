package registry

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// zoneData is a dnsrr service with a named port and one task, with an
// IPv4 and an IPv6 address, on each node: here and near in zone a, far in
// zone b, bare with no zone, and one task with no node.
func zoneData(localNode string) *Data {
	nodes := []Node{
		{ID: "here", Labels: map[string]string{"zone": "a"}},
		{ID: "near", Labels: map[string]string{"zone": "a"}},
		{ID: "far", Labels: map[string]string{"zone": "b"}},
		{ID: "bare"},
	}
	svc := Service{ID: "s", Name: "svc", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}},
		Ports: []Port{{Name: "http", Protocol: "tcp", Target: 80}}}
	var tasks []Task
	for i, node := range []string{"here", "near", "far", "bare", ""} {
		t := Task{ID: fmt.Sprintf("t%d", i+1), ServiceID: "s", Slot: i + 1, NodeID: node, State: TaskRunning}
		t.AddAddrs("n1", netip.MustParseAddr(fmt.Sprintf("10.1.0.%d", i+1)), netip.MustParseAddr(fmt.Sprintf("fd00::%d", i+1)))
		tasks = append(tasks, t)
	}
	d := data([]Service{svc}, tasks, nodes...)
	d.LocalNode = localNode
	return d
}

// Tiers and priorities name tasks by node; "none" is the task with no
// node.
func TestPreferLabelOrdersThisNodeThenItsLabelValueThenTheRest(t *testing.T) {
	tests := []struct {
		name      string
		localNode string
		cfg       Config
		tiers     [][]string        // the nodes of each tier, in answer order
		priority  map[string]uint16 // SRV priority by node
	}{
		{"prefer-local and prefer-label: this node, then its zone, then the rest", "here",
			Config{PreferLocal: true, PreferLabel: "zone"},
			[][]string{{"here"}, {"near"}, {"far", "bare", "none"}},
			map[string]uint16{"here": 0, "near": 1, "far": 2, "bare": 2, "none": 2}},
		{"prefer-label alone: this node's zone first, this node within it", "here",
			Config{PreferLabel: "zone"},
			[][]string{{"here", "near"}, {"far", "bare", "none"}},
			map[string]uint16{"here": 0, "near": 0, "far": 1, "bare": 1, "none": 1}},
		{"a different label value is the last tier with the nodes without the label", "far",
			Config{PreferLabel: "zone"},
			[][]string{{"far"}, {"here", "near", "bare", "none"}},
			map[string]uint16{"far": 0, "here": 1, "near": 1, "bare": 1, "none": 1}},
		{"this node without the label: the label's tier falls away, prefer-local stays", "bare",
			Config{PreferLocal: true, PreferLabel: "zone"},
			[][]string{{"bare"}, {"here", "near", "far", "none"}},
			map[string]uint16{"bare": 0, "here": 1, "near": 1, "far": 1, "none": 1}},
		{"a label no node has orders nothing", "here",
			Config{PreferLabel: "rack"},
			[][]string{{"here", "near", "far", "bare", "none"}},
			map[string]uint16{"here": 0, "near": 0, "far": 0, "bare": 0, "none": 0}},
		{"local node unknown: no tiers at all", "",
			Config{PreferLocal: true, PreferLabel: "zone"},
			[][]string{{"here", "near", "far", "bare", "none"}},
			map[string]uint16{"here": 0, "near": 0, "far": 0, "bare": 0, "none": 0}},
		{"local node not among the nodes: its label is unknown, prefer-local ranks every task second", "gone",
			Config{PreferLocal: true, PreferLabel: "zone"},
			[][]string{{"here", "near", "far", "bare", "none"}},
			map[string]uint16{"here": 1, "near": 1, "far": 1, "bare": 1, "none": 1}},
		{"label unset: prefer-local as before", "here",
			Config{PreferLocal: true},
			[][]string{{"here"}, {"near", "far", "bare", "none"}},
			map[string]uint16{"here": 0, "near": 1, "far": 1, "bare": 1, "none": 1}},
		{"neither: one tier, priority 0", "here",
			Config{},
			[][]string{{"here", "near", "far", "bare", "none"}},
			map[string]uint16{"here": 0, "near": 0, "far": 0, "bare": 0, "none": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, zoneData(tc.localNode), tc.cfg, nil)
			v := lookup(s, "svc")
			checkTiers(t, "A", v.A, tc.tiers)
			checkTiers(t, "AAAA", v.AAAA, tc.tiers)
			for _, key := range []string{"svc", "tasks.svc", "_http._tcp.svc"} {
				srvs := records(t, lookup(s, key).SRV, nil)
				if len(srvs) != len(zoneNodes) {
					t.Fatalf("%s SRV: %v, want one per task", key, srvs)
				}
				for _, r := range srvs {
					var prio, weight, port int
					var target string
					if _, err := fmt.Sscanf(r, "%d %d %d %s", &prio, &weight, &port, &target); err != nil {
						t.Fatalf("%s SRV %q: %v", key, r, err)
					}
					node := nodeOfTarget(target)
					if want := tc.priority[node]; prio != int(want) {
						t.Errorf("%s SRV %q (node %s): priority %d, want %d", key, r, node, prio, want)
					}
				}
			}
		})
	}
}

// checkTiers asks the set enough times for every rotation to come round
// and checks that each answer lists the tiers in order, and that each of
// a tier's tasks leads it equally often.
func checkTiers(t *testing.T, typ string, set *RRSet, tiers [][]string) {
	t.Helper()
	const queries = 60 // a multiple of every tier's size
	lead := map[string]int{}
	for q := 0; q < queries; q++ {
		got := records(t, set, set.Order(nil))
		at := 0
		for i, tier := range tiers {
			var nodes []string
			for _, r := range got[at : at+len(tier)] {
				nodes = append(nodes, nodeOfAddr(r))
			}
			lead[nodes[0]]++
			slices.Sort(nodes)
			want := slices.Sorted(slices.Values(tier))
			if !slices.Equal(nodes, want) {
				t.Fatalf("%s query %d: tier %d is %v, want %v (answer %v)", typ, q, i, nodes, want, got)
			}
			at += len(tier)
		}
	}
	for _, tier := range tiers {
		for _, node := range tier {
			if lead[node] != queries/len(tier) {
				t.Fatalf("%s: the tier %v does not rotate: %v", typ, tier, lead)
			}
		}
	}
}

var zoneNodes = []string{"here", "near", "far", "bare", "none"}

// nodeOfAddr is the node of zoneData's task with this address.
func nodeOfAddr(addr string) string {
	a := netip.MustParseAddr(addr)
	b := a.As16()
	return zoneNodes[b[15]-1]
}

// nodeOfTarget is the node of zoneData's task whose SRV target this is
// (svc.<slot>.t<slot>.…).
func nodeOfTarget(target string) string {
	var slot int
	if _, err := fmt.Sscanf(strings.TrimPrefix(target, "svc."), "%d.", &slot); err != nil || slot < 1 || slot > len(zoneNodes) {
		return "unknown target " + target
	}
	return zoneNodes[slot-1]
}

package registry

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/miekg/dns"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden snapshot dumps in testdata")

// TestBuildGolden pins every byte of a built snapshot (names, views, packed
// records, weights, info, policies, fingerprints and rotation) to a dump
// made once, so that changes to how a snapshot is built cannot change what
// it answers.
func TestBuildGolden(t *testing.T) {
	cases := goldenCases(t)
	for _, c := range inBothPackings(cases) {
		t.Run(c.name, func(t *testing.T) {
			c.packing(t)
			cfg := c.cfg
			cfg.Domain, cfg.TTL = "swarm.internal", 5
			// The dumps list every name, the empty non-terminals under
			// task names included: those are in the name index only here.
			// TestTaskIndexAnswersAsTheNameIndex holds the task index to it.
			cfg.allNamesIndexed = true
			if err := cfg.Check(); err != nil {
				t.Fatal(err)
			}
			s, _ := Build(c.data, cfg, nil)
			var out bytes.Buffer
			dumpSnapshot(&out, s)
			// Advance every rotation, rebuild on top, and dump the carried state.
			s.Names(func(_ string, n Name) {
				for _, v := range n.Views() {
					for _, set := range []*RRSet{v.A, v.AAAA, v.SRV, v.PTR} {
						if set != nil {
							set.Order(nil)
						}
					}
				}
			})
			s2, _ := Build(c.data, cfg, s)
			fmt.Fprintln(&out, "--- rebuilt")
			dumpSnapshot(&out, s2)
			path := filepath.Join("testdata", "build-"+c.file+".golden")
			if *updateGolden && c.name == c.file {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				got := path + ".got"
				_ = os.WriteFile(got, out.Bytes(), 0o644)
				t.Fatalf("snapshot differs from %s (dump in %s)", path, got)
			}
		})
	}
}

type goldenCase struct {
	name string
	data *Data
	cfg  Config
}

// packedCase is a golden case packed one way: file names its golden dump,
// packing sets up the way.
type packedCase struct {
	goldenCase
	file    string
	packing func(t *testing.T)
}

// inBothPackings returns each case as it is packed by default, and with
// its names packed in two halves at once however few they are, and a
// batch of task worker jobs for every service.
func inBothPackings(cases []goldenCase) []packedCase {
	var out []packedCase
	for _, c := range cases {
		out = append(out, packedCase{c, c.name, func(*testing.T) {}})
		halves := c
		halves.name += "/halves"
		out = append(out, packedCase{halves, c.name, func(t *testing.T) {
			oldMin, oldBatch := parallelPackMin, workerBatchServices
			parallelPackMin, workerBatchServices = 2, 1
			t.Cleanup(func() { parallelPackMin, workerBatchServices = oldMin, oldBatch })
		}})
	}
	return out
}

// goldenCases are the registries and configurations whose snapshots are
// pinned, with the domain and TTL not set.
func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	example, err := LoadFile("../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	generated := goldenData()
	local := Config{PreferLocal: true, MaxAnswers: 2, Policy: "weighted"}
	return []goldenCase{
		{"example", example, Config{}},
		{"example-local", withLocal(example, "node1"), local},
		{"example-network", example, Config{Networks: []string{"frontend"}}},
		{"generated", generated, Config{}},
		{"generated-local", withLocal(generated, "node1"), local},
		{"generated-zone", withZones(generated, "node1"), Config{PreferLocal: true, PreferLabel: "zone", MaxAnswers: 3, Policy: "weighted"}},
	}
}

// withZones puts node0 and node1 in zone a and node2, undrained, in zone
// b, and runs on node: with --prefer-label zone every tier has tasks.
func withZones(d *Data, node string) *Data {
	c := withLocal(d, node)
	c.Nodes = []Node{
		{ID: "node0", Hostname: "a", Labels: map[string]string{"zone": "a"}},
		{ID: "node1", Hostname: "b", Labels: map[string]string{LabelWeight: "3", "zone": "a"}},
		{ID: "node2", Hostname: "c", Labels: map[string]string{"zone": "b"}},
	}
	return c
}

func withLocal(d *Data, node string) *Data {
	c := *d
	c.LocalNode = node
	return &c
}

func dumpSnapshot(w *bytes.Buffer, s *Snapshot) {
	fmt.Fprintf(w, "stats %+v soa %x\n", s.Stats(), s.SOA()[:len(s.SOA())-20])
	var keys []string
	byKey := map[string]Name{}
	s.Names(func(k string, n Name) { keys = append(keys, k); byKey[k] = n })
	sort.Strings(keys)
	keys = append(keys, "@apex")
	byKey["@apex"] = s.Apex()
	for _, k := range keys {
		n := byKey[k]
		if got, ok := s.Lookup([]byte(k)); k != "@apex" && (!ok || &got.views[0] != &n.views[0]) {
			fmt.Fprintf(w, "%s: lookup differs\n", k)
		}
		fmt.Fprintf(w, "%s\n", k)
		dumpName(w, n)
	}
}

// dumpName writes every view, set and record of a name.
func dumpName(w *bytes.Buffer, n Name) {
	for _, v := range n.Views() {
		fmt.Fprintf(w, "  view %q empty=%v\n", v.Network, v.Empty())
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeNS, dns.TypeSOA} {
			set := v.Set(t)
			if set == nil {
				continue
			}
			print, peek := set.print, set.Peek(nil)
			if t == dns.TypeSOA {
				print = 0 // covers the serial
			}
			if set.Policy() == "random" {
				peek = nil
			}
			fmt.Fprintf(w, "    %s ttl=%d policy=%s len=%d print=%x peek=%v\n", dns.TypeToString[set.Type], set.TTL, set.Policy(), set.Len(), print, peek)
			for i := 0; i < set.Len(); i++ {
				rec := set.Record(i)
				if t == dns.TypeSOA {
					rec = rec[:len(rec)-20] // serial and timers
				}
				fmt.Fprintf(w, "      %s w=%d info=%q", hex.EncodeToString(rec), set.Weight(i), set.Info(i))
				if set.HasExtra() {
					extra, count := set.Extra(i)
					fmt.Fprintf(w, " extra=%d:%s", count, hex.EncodeToString(extra))
				}
				fmt.Fprintln(w)
			}
		}
	}
}

// goldenData is a registry like the benchmarks' with every kind of twist:
// labels, aliases, IPv6, a second network, global and stopped tasks.
func goldenData() *Data {
	d := &Data{
		Networks: []Network{
			{ID: "n1", Name: "Front", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			{ID: "n2", Name: "back", Subnets: []netip.Prefix{netip.MustParsePrefix("fd00::/64")}},
			{ID: "in", Name: "ingress", Ingress: true},
		},
		Nodes: []Node{{ID: "node0", Hostname: "a"}, {ID: "node1", Hostname: "b", Labels: map[string]string{LabelWeight: "3"}}, {ID: "node2", Hostname: "c", Labels: map[string]string{LabelWeight: "0"}}},
	}
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("id%d", i)
		svc := Service{ID: id, Name: fmt.Sprintf("Svc%d", i), EndpointMode: ModeVIP, Global: i%7 == 3,
			Labels:   map[string]string{},
			Ports:    []Port{{Name: "http", Protocol: "tcp", Target: 80}, {Protocol: "udp", Target: 53}},
			Networks: []Attachment{{Network: "n1", Aliases: []string{fmt.Sprintf("Alias%d", i%4)}}, {Network: "in"}},
		}
		switch i % 5 {
		case 1:
			svc.EndpointMode = ModeDNSRR
		case 2:
			svc.Labels[LabelScheduler] = "random"
			svc.Labels[LabelTTL] = "30"
		case 3:
			svc.Labels[LabelWeight] = "2"
			svc.Labels[LabelResolve] = "tasks"
			svc.Labels[LabelPorts] = "dns:53/udp,grpc:9090"
		case 4:
			svc.Networks = append(svc.Networks, Attachment{Network: "n2"})
			svc.SetVIP("n2", netip.MustParseAddr(fmt.Sprintf("fd00::ff:%x", i)))
		}
		if svc.EndpointMode == ModeVIP {
			svc.SetVIP("n1", netip.AddrFrom4([4]byte{10, 200, 0, byte(i)}))
			svc.SetVIP("in", netip.AddrFrom4([4]byte{10, 255, 0, byte(i)}))
		}
		d.Services = append(d.Services, svc)
		for j := 0; j < 5; j++ {
			t := Task{ID: fmt.Sprintf("T%dx%d", i, j), ServiceID: id, Slot: j + 1, NodeID: fmt.Sprintf("node%d", j%3), State: TaskRunning}
			t.AddAddrs("n1", netip.AddrFrom4([4]byte{10, 0, byte(i), byte(j + 1)}))
			t.AddAddrs("in", netip.AddrFrom4([4]byte{10, 254, byte(i), byte(j)}))
			if svc.Global {
				t.Slot = 0
			}
			if j == 4 {
				t.State = "shutdown"
			}
			if i%5 == 4 {
				t.AddAddrs("n2", netip.MustParseAddr(fmt.Sprintf("fd00::%x:%x", i, j+1)), netip.MustParseAddr(fmt.Sprintf("::ffff:10.1.%d.%d", i, j)))
			}
			if i == 7 && j == 0 {
				t.AddAddrs("n1", netip.AddrFrom4([4]byte{10, 0, 8, 1})) // shared with svc8
			}
			d.Tasks = append(d.Tasks, t)
		}
	}
	d.Containers = []Container{{ID: "c", Addresses: []netip.Addr{netip.MustParseAddr("172.18.0.5")}, Networks: []string{"n2", "in"}}}
	return d
}

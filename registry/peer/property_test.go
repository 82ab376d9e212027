package peer

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
)

// randomData mutates d at random: objects added, removed and changed in
// every field the wire carries, lists in any order.
func randomData(r *rand.Rand, d *registry.Data) *registry.Data {
	nd := &registry.Data{}
	pick := func(n int) string { return fmt.Sprintf("%02d", r.IntN(n)) }
	addr := func() netip.Addr {
		if r.IntN(5) == 0 {
			return netip.AddrFrom16([16]byte{0xfd, 15: byte(r.IntN(256))})
		}
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	labels := func() map[string]string {
		if r.IntN(3) == 0 {
			return nil
		}
		m := map[string]string{}
		for range r.IntN(3) + 1 {
			m["k"+pick(4)] = "v" + pick(4)
		}
		return m
	}
	keep := func(n int) bool { return r.IntN(n) != 0 } // 1 in n changes
	for _, s := range d.Services {
		if keep(10) {
			if !keep(8) {
				s.Name, s.Labels = "svc"+pick(30), labels()
				s.Ports = append(s.Ports, registry.Port{Name: "p" + pick(3), Protocol: "tcp", Target: uint16(r.IntN(65536))})
			}
			nd.Services = append(nd.Services, s)
		}
	}
	for _, t := range d.Tasks {
		if keep(6) {
			if !keep(5) {
				t.State = []string{registry.TaskRunning, "starting", "shutdown"}[r.IntN(3)]
				t.Addresses = nil
				t.AddAddrs("n"+pick(3), addr())
			}
			nd.Tasks = append(nd.Tasks, t)
		}
	}
	for _, n := range d.Networks {
		if keep(15) {
			nd.Networks = append(nd.Networks, n)
		}
	}
	for _, n := range d.Nodes {
		if keep(10) {
			if !keep(6) {
				n.Labels = labels()
			}
			nd.Nodes = append(nd.Nodes, n)
		}
	}
	has := map[string]bool{}
	for _, s := range nd.Services {
		has["s"+s.ID] = true
	}
	for _, t := range nd.Tasks {
		has["t"+t.ID] = true
	}
	for _, n := range nd.Networks {
		has["n"+n.ID] = true
	}
	for _, n := range nd.Nodes {
		has["o"+n.ID] = true
	}
	for range r.IntN(4) {
		if sid := "svc" + pick(30); !has["s"+sid] {
			has["s"+sid] = true
			s := registry.Service{ID: sid, Name: "web" + pick(9), EndpointMode: registry.ModeVIP, Global: r.IntN(2) == 0, Labels: labels()}
			s.SetVIP("n"+pick(3), addr())
			s.Networks = []registry.Attachment{{Network: "n" + pick(3), Aliases: []string{"a" + pick(5)}}}
			nd.Services = append(nd.Services, s)
		}
	}
	for range r.IntN(8) {
		if tid := "task" + pick(99); !has["t"+tid] {
			has["t"+tid] = true
			t := registry.Task{ID: tid, ServiceID: "svc" + pick(30), Slot: r.IntN(5), NodeID: "node" + pick(5), State: registry.TaskRunning}
			t.AddAddrs("n"+pick(3), addr(), addr())
			nd.Tasks = append(nd.Tasks, t)
		}
	}
	for range r.IntN(2) {
		if nid := "n" + pick(3); !has["n"+nid] {
			has["n"+nid] = true
			nd.Networks = append(nd.Networks, registry.Network{ID: nid, Name: "net" + nid, Ingress: r.IntN(4) == 0,
				Subnets: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), 0, 0}), 16)}})
		}
	}
	for range r.IntN(2) {
		if nid := "node" + pick(5); !has["o"+nid] {
			has["o"+nid] = true
			nd.Nodes = append(nd.Nodes, registry.Node{ID: nid, Hostname: "host" + nid, Labels: labels()})
		}
	}
	// Any order: the hub puts lists in ID order itself.
	r.Shuffle(len(nd.Tasks), func(i, j int) { nd.Tasks[i], nd.Tasks[j] = nd.Tasks[j], nd.Tasks[i] })
	r.Shuffle(len(nd.Services), func(i, j int) { nd.Services[i], nd.Services[j] = nd.Services[j], nd.Services[i] })
	return nd
}

// Random change sequences, each encoded as the manager sends it and
// applied as the follower applies it, give exactly the manager's data;
// now and then the follower takes the whole data instead, as after a
// reconnect.
func TestRandomChangeSequencesGiveTheManagersData(t *testing.T) {
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		log, _ := quietLog()
		h := newHub(log, 1000, 1<<30, 512) // small chunks: a whole data is several
		var fh held
		s := sessionState{f: &Follower{}, h: &fh, sink: nopSink{}}
		d := &registry.Data{}
		take := func(m encoded) {
			var msg peerpb.ManagerMessage
			if err := proto.Unmarshal(m, &msg); err != nil {
				t.Fatal(err)
			}
			if _, err := s.handle(&msg); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
		for step := range 30 {
			d = randomData(r, d)
			h.process(d)
			if !fh.have || r.IntN(10) == 0 {
				full := h.fullNow()
				hdr, err := h.resetMsg(full, peerpb.ResetReason_RESET_REASON_FIRST)
				if err != nil {
					t.Fatal(err)
				}
				take(hdr)
				for _, c := range full.chunks {
					take(c)
				}
			} else {
				msgs, ok := h.changesAfter(fh.counter)
				if !ok {
					t.Fatalf("seed %d step %d: history lost changes after %d", seed, step, fh.counter)
				}
				for _, m := range msgs {
					take(m)
				}
			}
			want, err := clusterOf(d)
			if err != nil {
				t.Fatal(err)
			}
			if fh.counter != h.head || !fh.cluster.equal(&want) {
				t.Fatalf("seed %d step %d: follower at %d holds %s, manager at %d has %s", seed, step,
					fh.counter, describe(fh.cluster.data(LocalState{})), h.head, describe(d))
			}
		}
	}
}

func TestDataWithARepeatedIDIsNotSentAndTheLastVersionStays(t *testing.T) {
	log, hook := quietLog()
	h := newHub(log, 10, 1<<20, 1<<20)
	d := testData(2, 2)
	h.process(d)
	bad := *d
	bad.Tasks = append(append([]registry.Task(nil), d.Tasks...), d.Tasks[0])
	h.process(&bad)
	if h.head != 1 || h.rejected.Load() != 1 || logged(hook, "registry data not sent to followers") != 1 {
		t.Fatalf("head %d, rejected %d: want the repeated ID refused, logged, version 1 kept", h.head, h.rejected.Load())
	}
	h.process(withTask(d, 0, testTask(0, 0, 1)))
	if h.head != 2 {
		t.Fatalf("head %d after a good change, want 2", h.head)
	}
}

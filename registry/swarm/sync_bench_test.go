package swarm

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"
)

// engineJSON is what the engine answers the list calls of a sync with, for
// a cluster of the benchmarks' shape: services × tasks on one overlay
// network and four nodes, with 25-character IDs as Swarm makes them.
type engineJSON struct{ services, tasks, networks, nodes []byte }

func largeEngineJSON(tb testing.TB, services, tasks int) engineJSON {
	id := func(kind byte, n int) string { return fmt.Sprintf("%c%024d", kind, n) }
	netID := id('n', 1)
	nets := []network.Summary{swarmNet(netID, "benchnet", false, "10.0.0.0/8")}
	var nodes []swarmtypes.Node
	for n := 0; n < 4; n++ {
		var node swarmtypes.Node
		node.ID = id('h', n)
		node.Description.Hostname = fmt.Sprintf("node%d", n)
		node.Spec.Labels = map[string]string{}
		nodes = append(nodes, node)
	}
	var svcs []swarmtypes.Service
	var ts []swarmtypes.Task
	for i := 0; i < services; i++ {
		s := withNetworks(replicated(id('s', i), fmt.Sprintf("svc%d", i)), swarmtypes.NetworkAttachmentConfig{Target: netID})
		s.Spec.Labels = map[string]string{}
		s.Endpoint.Ports = []swarmtypes.PortConfig{{Name: "http", Protocol: swarmtypes.PortConfigProtocolTCP, TargetPort: 80}}
		if i%2 == 1 {
			s.Spec.EndpointSpec.Mode = swarmtypes.ResolutionModeDNSRR
		} else {
			s = withVIPs(s, netID, fmt.Sprintf("10.200.%d.%d/8", i/256, i%256))
		}
		svcs = append(svcs, s)
		for j := 0; j < tasks; j++ {
			k := i*tasks + j + 1
			t := task(id('t', k), s.ID, j+1, swarmtypes.TaskStateRunning, swarmtypes.TaskStateRunning,
				attached(netID, false, fmt.Sprintf("10.%d.%d.%d/8", k>>16, (k>>8)&255, k&255)))
			t.NodeID = nodes[j%len(nodes)].ID
			t.NetworksAttachments[0].Network.Spec.Name = "benchnet"
			ts = append(ts, t)
		}
	}
	var ej engineJSON
	var err error
	for _, m := range []struct {
		dst *[]byte
		v   any
	}{{&ej.services, svcs}, {&ej.tasks, ts}, {&ej.networks, nets}, {&ej.nodes, nodes}} {
		if *m.dst, err = json.Marshal(m.v); err != nil {
			tb.Fatal(err)
		}
	}
	return ej
}

// decode reads the lists as the docker client does.
func (ej engineJSON) decode(tb testing.TB) *engineState {
	st := &engineState{}
	for _, m := range []struct {
		src []byte
		v   any
	}{{ej.services, &st.services}, {ej.tasks, &st.tasks}, {ej.networks, &st.networks}, {ej.nodes, &st.nodes}} {
		if err := json.Unmarshal(m.src, m.v); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}

// BenchmarkSwarmData converts a large cluster's engine lists into Data, as
// each sync does; heap-MB is what the Data keeps once the lists are gone.
func BenchmarkSwarmData(b *testing.B) {
	ej := largeEngineJSON(b, 10000, 10)
	before := liveHeap()
	d := ej.decode(b).data()
	after := liveHeap()
	runtime.KeepAlive(d)
	if len(d.Tasks) != 100000 || len(d.Services) != 10000 {
		b.Fatalf("%d services, %d tasks", len(d.Services), len(d.Tasks))
	}
	st := ej.decode(b)
	b.ReportAllocs()
	for b.Loop() {
		st.data()
	}
	b.ReportMetric(float64(int64(after)-int64(before))/1e6, "heap-MB")
}

// liveHeap returns the bytes of live heap. The second GC frees what the
// first moved to sync.Pool's victim cache (encoding/json's buffers).
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

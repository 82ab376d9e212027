package peer

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// benchRegistry is the large benchmark registry (10,000 services × 10
// tasks) in ID order, as the Swarm source hands it over, and the same with
// one task restarted (a new task with a Swarm-length ID and a new
// address).
func benchRegistry(b *testing.B) (d0, d1 *registry.Data) {
	b.Helper()
	d0 = benchdata.Data(benchdata.Large)
	c, err := clusterOf(d0)
	if err != nil {
		b.Fatal(err)
	}
	d0.Services, d0.Tasks, d0.Networks, d0.Nodes = c.services, c.tasks, c.networks, c.nodes
	restarted := d0.Tasks[len(d0.Tasks)/2]
	restarted.ID = id("t", 99)
	restarted.Addresses = []registry.NetworkAddrs{{Network: restarted.Addresses[0].Network, Addrs: append(restarted.Addresses[0].Addrs[:0:0], restarted.Addresses[0].Addrs[0].Next())}}
	d1 = withTask(d0, len(d0.Tasks)/2, restarted)
	return d0, d1
}

// BenchmarkChange is the manager's cost of one one-task change on the
// large registry, paid once for every follower: the diff of the whole
// registry and the encoding of the change. BenchmarkWholeData, its peer in
// the same run, is what one whole data (a follower's first sync) costs:
// the encoding and compression, once per version however many followers
// take it.
func BenchmarkChange(b *testing.B) {
	d0, d1 := benchRegistry(b)
	log, _ := quietLog()
	h := newHub(log, DefaultHistory, DefaultHistoryBytes, chunkSize)
	h.process(d0)
	b.ReportAllocs()
	next := []*registry.Data{d1, d0}
	i := 0
	for b.Loop() {
		h.process(next[i%2])
		i++
	}
	b.ReportMetric(float64(len(h.history[len(h.history)-1])), "change-bytes")
}

func BenchmarkWholeData(b *testing.B) {
	d0, _ := benchRegistry(b)
	log, _ := quietLog()
	h := newHub(log, DefaultHistory, DefaultHistoryBytes, chunkSize)
	h.process(d0)
	b.ReportAllocs()
	var f *fullState
	for b.Loop() {
		h.full = nil
		f = h.fullNow()
	}
	b.ReportMetric(float64(f.size), "compressed-bytes")
}

// BenchmarkFanout sends one-task changes of the large registry from one
// manager instance to N followers in this process, over loopback TCP with
// mutual TLS; an iteration ends when every follower has received the
// change. The followers read the protocol and track the version (they do
// not build snapshots), so the process's CPU per change is an upper bound
// of the manager's. wire-B/follower is what each follower read per change,
// TLS and HTTP/2 framing included.
func BenchmarkFanout(b *testing.B) {
	const n = 100
	d0, d1 := benchRegistry(b)
	sw := newSwarm(b)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	log, _ := quietLog()
	srv, err := NewServer(ServerConfig{Credentials: mcreds, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, ln) }()
	srv.hub.publish(d0)

	var read atomic.Int64
	var wg sync.WaitGroup
	counters := make([]atomic.Uint64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			benchFollower(ctx, b, ln.Addr().String(), wcreds, &read, &counters[i])
		}()
	}
	waitAll := func(counter uint64) {
		for i := range counters {
			for counters[i].Load() < counter {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	waitAll(1)

	next := []*registry.Data{d1, d0}
	before, cpu0 := read.Load(), benchdata.CPUTime()
	i := 0
	for b.Loop() {
		srv.hub.publish(next[i%2])
		i++
		waitAll(uint64(1 + i))
	}
	cpu := benchdata.CPUTime() - cpu0
	b.ReportMetric(float64(read.Load()-before)/float64(n*i), "wire-B/follower")
	b.ReportMetric(cpu.Seconds()*1e3/float64(i), "cpu-ms/change")
	b.ReportMetric(float64(srv.hub.encodeNs.Load())/1e6, "diff+encode-ms")
	cancel()
	wg.Wait()
}

// benchFollower follows addr at the protocol level and stores the counter
// it reached.
func benchFollower(ctx context.Context, b *testing.B, addr string, creds *swarmpki.Credentials, read *atomic.Int64, counter *atomic.Uint64) {
	var d net.Dialer
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientConfig())),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				return nil, err
			}
			return countingConn{c, read}, nil
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(chunkSize+64<<10)))
	if err != nil {
		b.Error(err)
		return
	}
	defer conn.Close()
	stream, err := peerpb.NewRegistryClient(conn).Follow(ctx)
	if err != nil {
		b.Error(err)
		return
	}
	_ = stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Hello{Hello: &peerpb.Hello{Protocol: ProtocolVersion}}})
	go func() {
		for ctx.Err() == nil {
			if stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Ack{Ack: &peerpb.Ack{}}}) != nil {
				return
			}
			time.Sleep(time.Second)
		}
	}()
	var full uint64 // version of the whole data being received
	var left int64
	for {
		m, err := stream.Recv()
		if err != nil {
			return
		}
		switch m := m.Msg.(type) {
		case *peerpb.ManagerMessage_Reset_:
			full, left = m.Reset_.Version.Counter, int64(m.Reset_.Size)
		case *peerpb.ManagerMessage_Chunk:
			if left -= int64(len(m.Chunk.Data)); left == 0 {
				counter.Store(full)
			}
		case *peerpb.ManagerMessage_Change:
			counter.Store(m.Change.Version.Counter)
		}
	}
}

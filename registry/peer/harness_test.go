package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/swarmdns/swarmdns/internal/pkitest"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// The tests drive the real protocol: gRPC over loopback TCP with mutual
// TLS by Swarm-like certificates (pkitest), a real registry.Store on each
// side.

const clusterID = "cluster-a"

// swarm is one test Swarm's CA.
type swarm struct {
	t  testing.TB
	ca *pkitest.CA
}

func newSwarm(t testing.TB) *swarm { return &swarm{t: t, ca: pkitest.NewCA(t)} }

// node writes a node's certificates into a directory of its own and
// returns its credentials and that directory.
func (s *swarm) node(role, id string) (*swarmpki.Credentials, string) {
	s.t.Helper()
	dir := s.t.TempDir()
	c, err := swarmpki.Load(s.ca.WriteNode(s.t, dir, clusterID, role, id))
	if err != nil {
		s.t.Fatal(err)
	}
	return c, dir
}

func quietLog() (*logrus.Entry, *test.Hook) {
	l, hook := test.NewNullLogger()
	l.SetLevel(logrus.DebugLevel)
	return logrus.NewEntry(l), hook
}

func newStore(t testing.TB) *registry.Store {
	t.Helper()
	l, _ := test.NewNullLogger()
	st, err := registry.NewStore(registry.Config{Domain: "swarm.internal."}, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// manager is a manager instance: a Store observed by a peer Server.
type manager struct {
	srv   *Server
	store *registry.Store
	addr  string
	log   *test.Hook
	stop  func()
}

func startManager(t *testing.T, creds *swarmpki.Credentials, cfg ServerConfig) *manager {
	t.Helper()
	return startManagerOn(t, "127.0.0.1:0", creds, cfg)
}

func startManagerOn(t *testing.T, addr string, creds *swarmpki.Credentials, cfg ServerConfig) *manager {
	t.Helper()
	log, hook := quietLog()
	cfg.Credentials, cfg.Log = creds, log
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // a restarted manager takes its port back
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	store := newStore(t)
	store.Observe(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	m := &manager{srv: srv, store: store, addr: ln.Addr().String(), log: hook}
	m.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(m.stop)
	return m
}

// recorder is the follower's Sink: a real Store, and what was reported.
type recorder struct {
	*registry.Store
	updates, synced, failed atomic.Int64
	mu                      sync.Mutex
	infos                   []registry.SourceInfo
	lastErr                 error
}

func (r *recorder) Describe(i registry.SourceInfo) {
	r.mu.Lock()
	r.infos = append(r.infos, i)
	r.mu.Unlock()
	r.Store.Describe(i)
}
func (r *recorder) Update(d *registry.Data)   { r.updates.Add(1); r.Store.Update(d) }
func (r *recorder) Synced(took time.Duration) { r.synced.Add(1); r.Store.Synced(took) }
func (r *recorder) Failed(err error) {
	r.failed.Add(1)
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
	r.Store.Failed(err)
}

func (r *recorder) lastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// runningFollower is a running Follower with its sink, its log and the bytes it
// read from managers.
type runningFollower struct {
	f     *Follower
	rec   *recorder
	log   *test.Hook
	read  atomic.Int64
	gate  *gate
	stop  func()
	local chan LocalState
}

// gate lets a test cut a follower's connections and refuse new ones.
type gate struct {
	mu    sync.Mutex
	shut  bool
	conns []net.Conn
}

func (g *gate) cut(shut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = shut
	if shut {
		for _, c := range g.conns {
			c.Close()
		}
		g.conns = nil
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// chanLocal is a Local the test sets.
type chanLocal chan LocalState

func (c chanLocal) Watch(ctx context.Context, update func(LocalState)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ls := <-c:
			update(ls)
		}
	}
}

func startFollower(t *testing.T, creds *swarmpki.Credentials, managers []string, tweak func(*FollowerConfig)) *runningFollower {
	t.Helper()
	log, hook := quietLog()
	fo := &runningFollower{rec: &recorder{Store: newStore(t)}, log: hook, gate: &gate{}, local: make(chan LocalState, 4)}
	var d net.Dialer
	cfg := FollowerConfig{
		Managers: managers, Credentials: creds, Log: log, Local: chanLocal(fo.local),
		DialTimeout: time.Second,
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			fo.gate.mu.Lock()
			shut := fo.gate.shut
			fo.gate.mu.Unlock()
			if shut {
				return nil, errors.New("test: link cut")
			}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			fo.gate.mu.Lock()
			fo.gate.conns = append(fo.gate.conns, c)
			fo.gate.mu.Unlock()
			return countingConn{c, &fo.read}, nil
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	f, err := NewFollower(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fo.f = f
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, fo.rec) }()
	var once sync.Once
	fo.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(fo.stop)
	return fo
}

// rawFollower is a follower at the protocol level, for tests that read
// the stream themselves: it opens a Follow stream to addr and says hello,
// paced or not; then it acks every acks (0: never).
func rawFollower(t *testing.T, creds *swarmpki.Credentials, addr string, paced bool, acks time.Duration) peerpb.Registry_FollowClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientConfig())),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(chunkSize+64<<10)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	stream, err := peerpb.NewRegistryClient(conn).Follow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hello := &peerpb.Hello{Protocol: ProtocolVersion, Paced: paced}
	if err := stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Hello{Hello: hello}}); err != nil {
		t.Fatal(err)
	}
	if acks > 0 {
		go func() {
			for ctx.Err() == nil && stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Ack{Ack: &peerpb.Ack{}}}) == nil {
				time.Sleep(acks)
			}
		}()
	}
	return stream
}

// data returns the Data the follower's store serves; nil before any.
func (fo *runningFollower) data() *registry.Data {
	if s := fo.rec.Snapshot(); s != nil {
		return s.Data
	}
	return nil
}

// eventually waits up to 10 s for cond, failing with what().
func eventually(t testing.TB, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out: " + what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitData waits until the follower serves the manager's cluster data
// with local's node ID and containers.
func (fo *runningFollower) waitData(t testing.TB, want *registry.Data, local LocalState) {
	t.Helper()
	eventually(t, func() bool { return sameData(fo.data(), want, local) }, func() string {
		return fmt.Sprintf("follower serves %s, want %s", describe(fo.data()), describe(want))
	})
}

// sameData tells whether got is want's cluster data with local's state.
func sameData(got, want *registry.Data, local LocalState) bool {
	if got == nil || want == nil {
		return got == want
	}
	g, err1 := clusterOf(got)
	w, err2 := clusterOf(want)
	return err1 == nil && err2 == nil && g.equal(&w) && got.LocalNode == local.NodeID &&
		reflect.DeepEqual(got.Containers, local.Containers)
}

func describe(d *registry.Data) string {
	if d == nil {
		return "nothing"
	}
	return fmt.Sprintf("%d services, %d tasks, %d networks, %d nodes, local %q", len(d.Services), len(d.Tasks), len(d.Networks), len(d.Nodes), d.LocalNode)
}

// logged counts the log entries whose message starts with msg.
func logged(h *test.Hook, msg string) int {
	n := 0
	for _, e := range h.AllEntries() {
		if strings.HasPrefix(e.Message, msg) {
			n++
		}
	}
	return n
}

// testData is a registry of n services with k tasks each on one overlay
// network, with IDs as long as Swarm's.
func testData(n, k int) *registry.Data {
	d := &registry.Data{
		Networks: []registry.Network{{ID: id("net", 0), Name: "appnet", Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}},
		Nodes:    []registry.Node{{ID: id("node", 1), Hostname: "worker-1", Labels: map[string]string{"zone": "a"}}, {ID: id("node", 2), Hostname: "worker-2"}},
	}
	for i := range n {
		d.Services = append(d.Services, registry.Service{
			ID: id("svc", i), Name: fmt.Sprintf("web%d", i), EndpointMode: registry.ModeVIP,
			VirtualIPs: []registry.VirtualIP{{Network: id("net", 0), Addr: netip.AddrFrom4([4]byte{10, 0, 255, byte(i)})}},
			Networks:   []registry.Attachment{{Network: id("net", 0), Aliases: []string{fmt.Sprintf("alias%d", i)}}},
			Ports:      []registry.Port{{Name: "http", Protocol: "tcp", Target: 80}},
		})
		for j := range k {
			d.Tasks = append(d.Tasks, testTask(i, j, 0))
		}
	}
	return d
}

// testTask is task j of service i in its generation gen: a restarted task
// is a new task, with a new ID and address.
func testTask(i, j, gen int) registry.Task {
	t := registry.Task{
		ID: id(fmt.Sprintf("t%d", gen), i*1000+j), ServiceID: id("svc", i), Slot: j + 1,
		NodeID: id("node", 1+j%2), State: registry.TaskRunning,
	}
	t.AddAddrs(id("net", 0), netip.AddrFrom4([4]byte{10, 0, byte(i), byte(j + 10*gen)}))
	return t
}

// id is a 25-character ID like Swarm's.
func id(kind string, n int) string { return fmt.Sprintf("%s%0*d", kind, 25-len(kind), n) }

// withTask returns d with its task at index i replaced by t (sorted again).
func withTask(d *registry.Data, i int, t registry.Task) *registry.Data {
	nd := *d
	nd.Tasks = append([]registry.Task(nil), d.Tasks...)
	nd.Tasks[i] = t
	c, _ := clusterOf(&nd)
	nd.Tasks = c.tasks
	return &nd
}

// waitHead waits for the manager instance to have published version head.
func waitHead(t *testing.T, m *manager, head uint64) {
	t.Helper()
	eventually(t, func() bool { return m.srv.Status().Head == head }, func() string {
		return fmt.Sprintf("manager at version %d, want %d", m.srv.Status().Head, head)
	})
}

package peer

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/swarmdns/swarmdns/internal/pkitest"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// tryFollow opens a Follow stream to addr with dial options opts, says
// hello and returns how many messages it got before the stream failed.
func tryFollow(t *testing.T, addr string, opts ...grpc.DialOption) (int, error) {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stream, err := peerpb.NewRegistryClient(conn).Follow(ctx)
	if err != nil {
		return 0, err
	}
	if err := stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Hello{Hello: &peerpb.Hello{Protocol: ProtocolVersion}}}); err != nil {
		return 0, err
	}
	n := 0
	for {
		if _, err := stream.Recv(); err != nil {
			return n, err
		}
		n++
	}
}

// presenting is a client TLS that shows files's certificate (none: nil)
// and trusts any server, as a peer after the data would.
func presenting(t *testing.T, files *swarmpki.Files) grpc.DialOption {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true}
	if files != nil {
		cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

func TestManagerRefusesPeersOutsideItsSwarmAndSendsThemNothing(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	m := startManager(t, mcreds, ServerConfig{})
	m.store.Update(testData(5, 2))
	otherCluster := sw.ca.WriteNode(t, t.TempDir(), "cluster-b", swarmpki.RoleWorker, "intruder1")
	otherSwarm := pkitest.NewCA(t).WriteNode(t, t.TempDir(), clusterID, swarmpki.RoleManager, "intruder2")

	tests := []struct {
		name   string
		dial   grpc.DialOption
		reason string
	}{
		{"a client without certificate", presenting(t, nil), "didn't provide a certificate"},
		{"a node of another cluster of this CA", presenting(t, &otherCluster), "of cluster cluster-b, not cluster-a"},
		{"a node of another Swarm", presenting(t, &otherSwarm), "not of this Swarm's CA"},
		{"a plaintext client", grpc.WithTransportCredentials(insecure.NewCredentials()), "first record does not look like a TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 {
				n, err := tryFollow(t, m.addr, tt.dial)
				if err == nil || n != 0 {
					t.Fatalf("refused peer got %d messages (error %v)", n, err)
				}
			}
			// Logged once per peer and reason, however often it tries.
			eventually(t, func() bool { return refusalsLogged(m, tt.reason) >= 1 }, func() string { return "refusal not logged: " + tt.reason })
			if n := refusalsLogged(m, tt.reason); n != 1 {
				t.Fatalf("refusal logged %d times for two tries, want once", n)
			}
		})
	}
	eventually(t, func() bool { return m.srv.Status().Refused >= 8 }, func() string { return fmt.Sprintf("%d refusals counted, want 8", m.srv.Status().Refused) })
	if st := m.srv.Status(); len(st.Followers) != 0 || st.Resets != 0 || st.SentBytes != 0 {
		t.Fatalf("manager status %+v: want no follower and nothing sent", st)
	}
}

func refusalsLogged(m *manager, reason string) int {
	n := 0
	for _, e := range m.log.AllEntries() {
		if e.Message == "peer refused" {
			if err, ok := e.Data["error"].(error); ok && strings.Contains(err.Error(), reason) {
				n++
			}
		}
	}
	return n
}

func TestFollowerRefusesAWorkerPresentedAsAManager(t *testing.T) {
	sw := newSwarm(t)
	fake, _ := sw.node(swarmpki.RoleWorker, "not-a-manager")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, fake, ServerConfig{})
	m.store.Update(testData(5, 2))
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	eventually(t, func() bool { return fo.rec.failed.Load() >= 1 }, func() string { return "follower reported nothing" })
	if err := fo.rec.lastError(); err == nil || !strings.Contains(err.Error(), "is a swarm-worker, not a swarm-manager") {
		t.Fatalf("follower's failure = %v, want the refusal of a worker", err)
	}
	if fo.data() != nil || m.srv.Status().Resets != 0 {
		t.Fatal("registry data went over a refused connection")
	}
}

// A rotation while followers are connected: the streams stay, and new
// handshakes use the new files.
func TestCertificateRotationKeepsFollowersAndAdmitsTheNewCertificates(t *testing.T) {
	sw := newSwarm(t)
	mcreds, mdir := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, wdir := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{})
	d := testData(10, 2)
	m.store.Update(d)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.waitData(t, d, LocalState{})
	since := fo.f.Status().Since

	newCA := pkitest.NewCA(t)
	cross := sw.ca.CrossSign(t, newCA)
	for _, n := range []struct{ dir, role, id string }{{mdir, swarmpki.RoleManager, "mgr1"}, {wdir, swarmpki.RoleWorker, "w1"}} {
		chain, key := newCA.Node(t, clusterID, n.role, n.id, cross)
		pkitest.Write(t, n.dir, chain, key, sw.ca.PEM)
	}
	d = withTask(d, 0, testTask(0, 0, 1))
	m.store.Update(d)
	fo.waitData(t, d, LocalState{})
	for _, n := range []struct{ dir, role, id string }{{mdir, swarmpki.RoleManager, "mgr1"}, {wdir, swarmpki.RoleWorker, "w1"}} {
		chain, key := newCA.Node(t, clusterID, n.role, n.id)
		pkitest.Write(t, n.dir, chain, key, newCA.PEM)
	}
	d = withTask(d, 1, testTask(0, 1, 1))
	m.store.Update(d)
	fo.waitData(t, d, LocalState{})
	if fs := fo.f.Status(); !fs.Since.Equal(since) || fs.Switches != 0 {
		t.Fatalf("the stream was dropped by the rotation: status %+v", fs)
	}

	// A new follower with the new certificates gets in; one with the
	// old CA's does not.
	n2creds, _ := (&swarm{t: t, ca: newCA}).node(swarmpki.RoleWorker, "w2")
	fo2 := startFollower(t, n2creds, []string{m.addr}, nil)
	fo2.waitData(t, d, LocalState{})
	old, _ := sw.node(swarmpki.RoleWorker, "w3")
	fo3 := startFollower(t, old, []string{m.addr}, nil)
	eventually(t, func() bool { return fo3.rec.failed.Load() >= 1 }, func() string { return "old-CA follower reported nothing" })
	if fo3.data() != nil {
		t.Fatal("a follower with the retired CA's certificate got the registry")
	}
	// And a follower reconnecting after the rotation resumes.
	fo.gate.cut(true)
	fo.gate.cut(false)
	eventually(t, func() bool { fs := fo.f.Status(); return fs.Connected && !fs.Since.Equal(since) }, func() string { return "follower did not reconnect" })
}

type hintRecorder struct {
	mu      sync.Mutex
	rereads []string
	died    []string
	reach   []string
	from    []Peer
}

func (h *hintRecorder) Reread(from Peer, services, nodes, died []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.from = append(h.from, from)
	h.rereads = append(h.rereads, services...)
	h.died = append(h.died, died...)
}

func (h *hintRecorder) Reachability(from Peer, reachable, unreachable []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reach = append(h.reach, unreachable...)
}

func TestHintsReachTheManagerWithTheFollowersIdentity(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	hints := &hintRecorder{}
	m := startManager(t, mcreds, ServerConfig{Hints: hints})
	d := testData(2, 1)
	m.store.Update(d)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.waitData(t, d, LocalState{})
	fo.f.Reread([]string{id("svc", 1)}, nil)
	fo.f.Reachability([]string{id("node", 1)}, []string{id("node", 2)})
	eventually(t, func() bool {
		hints.mu.Lock()
		defer hints.mu.Unlock()
		return len(hints.rereads) == 1 && len(hints.reach) == 1
	}, func() string { return "hints did not arrive" })
	if p := hints.from[0]; p.NodeID != "w1" || p.Role != swarmpki.RoleWorker {
		t.Fatalf("hint from %+v, want worker w1 as its certificate says", p)
	}
}

// Every manager instance reads the Swarm itself: a follower's re-read
// hint reaches the one it follows on the stream and every other one by
// the Hint call, each with the follower's identity, once each.
func TestRereadHintsReachEveryManagerInstance(t *testing.T) {
	sw := newSwarm(t)
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	var managers []*manager
	var hints []*hintRecorder
	var addrs []string
	d := testData(2, 1)
	for _, name := range []string{"mgr1", "mgr2", "mgr3"} {
		creds, _ := sw.node(swarmpki.RoleManager, name)
		h := &hintRecorder{}
		m := startManager(t, creds, ServerConfig{Hints: h})
		m.store.Update(d)
		managers, hints, addrs = append(managers, m), append(hints, h), append(addrs, m.addr)
	}
	fo := startFollower(t, wcreds, addrs, nil)
	fo.waitData(t, d, LocalState{})
	svc := id("svc", 1)
	fo.f.Reread([]string{svc}, nil)
	eventually(t, func() bool {
		for _, h := range hints {
			h.mu.Lock()
			n := len(h.rereads)
			h.mu.Unlock()
			if n != 1 {
				return false
			}
		}
		return true
	}, func() string { return "the hint did not reach every manager instance" })
	time.Sleep(200 * time.Millisecond) // nothing more comes
	for i, h := range hints {
		h.mu.Lock()
		if len(h.rereads) != 1 || h.rereads[0] != svc {
			t.Errorf("manager %d: rereads %v, want [%s] once", i+1, h.rereads, svc)
		}
		if p := h.from[0]; p.NodeID != "w1" || p.Role != swarmpki.RoleWorker {
			t.Errorf("manager %d: hint from %+v, want worker w1 as its certificate says", i+1, p)
		}
		h.mu.Unlock()
	}
}

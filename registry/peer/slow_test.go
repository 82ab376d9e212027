package peer

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// slowFollower is a follower that reads only when the test says: it says
// hello, acks every 100 ms (it is alive), and reads nothing meanwhile.
type slowFollower struct {
	stream peerpb.Registry_FollowClient
	state  sessionState
	held   held
}

type nopSink struct{}

func (nopSink) Describe(registry.SourceInfo) {}
func (nopSink) Update(*registry.Data)        {}
func (nopSink) Synced(time.Duration)         {}
func (nopSink) Failed(error)                 {}

func startSlowFollower(t *testing.T, creds *swarmpki.Credentials, addr string) *slowFollower {
	t.Helper()
	stream := rawFollower(t, creds, addr, false, 100*time.Millisecond)
	f, err := NewFollower(FollowerConfig{Managers: []string{addr}, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	sf := &slowFollower{stream: stream}
	sf.state = sessionState{f: f, addr: addr, h: &sf.held, sink: nopSink{}}
	return sf
}

// readUntil applies messages until the follower holds counter, and
// returns the reasons of the whole data it got on the way.
func (sf *slowFollower) readUntil(t *testing.T, counter uint64) (resets []peerpb.ResetReason, err error) {
	t.Helper()
	for sf.held.counter != counter || sf.state.full != nil {
		m, err := sf.stream.Recv()
		if err != nil {
			return resets, err
		}
		if r := m.GetReset_(); r != nil {
			resets = append(resets, r.Reason)
		}
		if _, err := sf.state.handle(m); err != nil {
			t.Fatal(err)
		}
	}
	return resets, nil
}

// bigChanges publishes n changes that each restart every task of d.
func bigChanges(m *manager, d *registry.Data, n int) *registry.Data {
	for g := 1; g <= n; g++ {
		nd := *d
		nd.Tasks = nil
		for i := range d.Services {
			for j := range len(d.Tasks) / len(d.Services) {
				nd.Tasks = append(nd.Tasks, testTask(i, j, g))
			}
		}
		c, _ := clusterOf(&nd)
		nd.Tasks = c.tasks
		m.store.Update(&nd)
		d = &nd
	}
	return d
}

func TestFollowerThatFallsBehindTheHistoryGetsTheWholeDataAgain(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{History: 3, StallTimeout: time.Minute})
	d := testData(200, 10)
	m.store.Update(d)
	sf := startSlowFollower(t, wcreds, m.addr)
	if _, err := sf.readUntil(t, 1); err != nil {
		t.Fatal(err)
	}

	// Ten changes of ~300 KB each while it reads nothing: the manager's
	// stream blocks after its window, and the history moves past it.
	d = bigChanges(m, d, 10)
	eventually(t, func() bool { return m.srv.Status().Head == 11 }, func() string { return "manager did not publish" })
	resets, err := sf.readUntil(t, 11)
	if err != nil {
		t.Fatal(err)
	}
	if len(resets) != 1 || resets[0] != peerpb.ResetReason_RESET_REASON_LAGGED {
		t.Fatalf("whole data sent for %v, want once for lagging", resets)
	}
	want, _ := clusterOf(d)
	if !sf.held.cluster.equal(&want) {
		t.Fatal("slow follower's data after catching up differs from the manager's")
	}
}

func TestFollowerThatTakesNothingIsDroppedAndToldWhy(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{StallTimeout: 300 * time.Millisecond, Keepalive: 100 * time.Millisecond})
	d := testData(200, 10)
	m.store.Update(d)
	sf := startSlowFollower(t, wcreds, m.addr)
	if _, err := sf.readUntil(t, 1); err != nil {
		t.Fatal(err)
	}
	bigChanges(m, d, 5)
	eventually(t, func() bool { return m.srv.Status().Dropped == 1 }, func() string { return "stalled follower not dropped" })
	if n := len(m.srv.Status().Followers); n != 0 {
		t.Fatalf("manager still holds %d followers", n)
	}
	// What it reads next ends with the reason.
	_, err := sf.readUntil(t, 1<<62)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("dropped follower's stream ended with %v, want ResourceExhausted (too slow)", err)
	}
}

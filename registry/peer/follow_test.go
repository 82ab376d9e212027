package peer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

var local = LocalState{
	NodeID:     id("node", 2),
	Containers: []registry.Container{{ID: "c1", Addresses: []netip.Addr{netip.MustParseAddr("172.18.0.3")}, Networks: []string{id("net", 0)}}},
}

func TestFollowerGetsTheWholeDataOnceThenOnlyChanges(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, id("node", 2))
	m := startManager(t, mcreds, ServerConfig{})
	d1 := testData(50, 4)
	m.store.Update(d1)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.local <- local
	fo.waitData(t, d1, local)

	info := fo.rec.Source()
	if info.Kind != "follower" || info.Origin != m.addr || !info.Stales {
		t.Fatalf("Describe = %+v, want kind follower, origin %s, stales", info, m.addr)
	}
	full := fo.read.Load()

	// One task restarts: it is a new task.
	d2 := withTask(d1, 7, testTask(1, 3, 1))
	m.store.Update(d2)
	fo.waitData(t, d2, local)
	st := m.srv.Status()
	if st.Resets != 1 || st.Changes != 1 {
		t.Fatalf("manager sent %d whole data and %d changes, want 1 and 1", st.Resets, st.Changes)
	}
	// The change itself, with TLS and HTTP/2 framing, is far below the
	// whole data and below 2 KB. Keepalives may ride along.
	if got := fo.read.Load() - full; got > 2048 {
		t.Fatalf("one-task change took %d bytes on the wire, want ≤ 2048 (whole data was %d)", got, full)
	}
	if fs := fo.f.Status(); !fs.Connected || fs.Manager != m.addr || fs.ManagerNode != "mgr1" || fs.Counter != 2 {
		t.Fatalf("follower status = %+v, want connected to %s (mgr1) at counter 2", fs, m.addr)
	}
}

func TestFollowerDataIsTheManagersWithItsOwnNodeAndContainers(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, id("node", 2))
	m := startManager(t, mcreds, ServerConfig{})
	d := testData(3, 2)
	// What only the manager's node knows is not sent.
	d.LocalNode = id("node", 1)
	d.Containers = []registry.Container{{ID: "manager-container"}}
	m.store.Update(d)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.waitData(t, d, LocalState{})

	fo.local <- local
	fo.waitData(t, d, local)
	next := LocalState{NodeID: local.NodeID}
	fo.local <- next
	fo.waitData(t, d, next)
}

func TestResumeAfterReconnectSendsOnlyTheMissingChanges(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{})
	d := testData(200, 5)
	m.store.Update(d)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.waitData(t, d, LocalState{})
	full := fo.read.Load()

	fo.gate.cut(true)
	eventually(t, func() bool { return !fo.f.Status().Connected }, func() string { return "follower still connected" })
	for i := range 3 {
		d = withTask(d, 10*i, testTask(i, 0, 1))
		m.store.Update(d)
		// One change each: the hub takes publishes that come while it
		// diffs together.
		waitHead(t, m, uint64(i+2))
	}
	before := fo.read.Load()
	fo.gate.cut(false)
	fo.waitData(t, d, LocalState{})

	if st := m.srv.Status(); st.Resets != 1 {
		t.Fatalf("manager sent the whole data %d times, want once (the resume sends changes)", st.Resets)
	}
	// The resumed session costs a TLS handshake and three changes, a
	// fraction of the whole data.
	if got := fo.read.Load() - before; got > full/4 {
		t.Fatalf("resume read %d bytes, whole data is %d", got, full)
	}
	if fs := fo.f.Status(); fs.Counter != 4 || fs.Switches != 0 {
		t.Fatalf("follower status = %+v, want counter 4 and no switch", fs)
	}
}

func TestWholeDataAgainFromAnotherManagerInstance(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{})
	d := testData(20, 3)
	m.store.Update(d)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.waitData(t, d, LocalState{})
	epoch := fo.f.Status().Epoch

	// The instance restarts on its port: a new epoch, the same data.
	m.stop()
	m2 := startManagerOn(t, m.addr, mcreds, ServerConfig{})
	m2.store.Update(d)
	eventually(t, func() bool { return fo.f.Status().Epoch == m2.srv.Status().Epoch }, func() string { return "follower never took the new epoch" })
	if fo.f.Status().Epoch == epoch {
		t.Fatal("new instance kept the old epoch")
	}
	if st := m2.srv.Status(); st.Resets != 1 {
		t.Fatalf("new instance sent the whole data %d times, want 1", st.Resets)
	}
	// The same data is not built again.
	if n := fo.rec.updates.Load(); n != 1 {
		t.Fatalf("follower delivered %d updates, want 1: the new instance's data was the same", n)
	}
	d2 := withTask(d, 0, testTask(0, 0, 1))
	m2.store.Update(d2)
	fo.waitData(t, d2, LocalState{})
}

func TestResumeBeyondTheHistoryGetsTheWholeData(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{History: 2})
	d := testData(20, 3)
	m.store.Update(d)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.waitData(t, d, LocalState{})
	fo.gate.cut(true)
	eventually(t, func() bool { return !fo.f.Status().Connected }, func() string { return "follower still connected" })
	for i := range 5 {
		d = withTask(d, i, testTask(i/3, i%3, 1))
		m.store.Update(d)
		waitHead(t, m, uint64(i+2))
	}
	fo.gate.cut(false)
	fo.waitData(t, d, LocalState{})
	if st := m.srv.Status(); st.Resets != 2 {
		t.Fatalf("manager sent the whole data %d times, want 2 (history holds 2 of the 5 missing changes)", st.Resets)
	}
	if logged(fo.log, "following manager") != 2 {
		t.Fatalf("want one 'following manager' line per session")
	}
}

func TestFollowerSwitchesManagersAndKeepsServing(t *testing.T) {
	sw := newSwarm(t)
	c1, _ := sw.node(swarmpki.RoleManager, "mgr1")
	c2, _ := sw.node(swarmpki.RoleManager, "mgr2")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m1 := startManager(t, c1, ServerConfig{})
	m2 := startManager(t, c2, ServerConfig{})
	d := testData(20, 3)
	m1.store.Update(d)
	m2.store.Update(d)
	fo := startFollower(t, wcreds, []string{m1.addr, m2.addr}, nil)
	fo.waitData(t, d, LocalState{})

	first, other := m1, m2
	if fo.f.Status().Manager == m2.addr {
		first, other = m2, m1
	}
	lost := time.Now()
	first.stop()
	// It serves what it had while it moves.
	if !sameData(fo.data(), d, LocalState{}) {
		t.Fatal("follower stopped serving its data when its manager went away")
	}
	eventually(t, func() bool { fs := fo.f.Status(); return fs.Connected && fs.Manager == other.addr },
		func() string { return "follower never moved to the other manager" })
	if took := time.Since(lost); took > 5*time.Second {
		t.Fatalf("switch took %s, want a few seconds at most", took)
	}
	d2 := withTask(d, 0, testTask(0, 0, 1))
	other.store.Update(d2)
	fo.waitData(t, d2, LocalState{})

	if fs := fo.f.Status(); fs.Switches != 1 {
		t.Fatalf("switches = %d, want 1", fs.Switches)
	}
	if n := logged(fo.log, "manager lost"); n != 1 {
		t.Fatalf("'manager lost' logged %d times, want once", n)
	}
	if n := logged(fo.log, "following manager"); n != 2 {
		t.Fatalf("'following manager' logged %d times, want twice (each manager once)", n)
	}
}

func TestFollowerWithoutManagerKeepsItsLastDataAndReportsFailure(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{})
	d := testData(20, 3)
	m.store.Update(d)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.waitData(t, d, LocalState{})
	m.stop()

	eventually(t, func() bool { return fo.rec.failed.Load() >= 3 }, func() string { return "follower reported no failed syncs" })
	if !sameData(fo.data(), d, LocalState{}) {
		t.Fatalf("follower serves %s without a manager, want its last data", describe(fo.data()))
	}
	if fo.rec.LastSyncError() == "" || fo.f.Status().Connected {
		t.Fatalf("store's last sync error %q, status %+v: want a failure and not connected", fo.rec.LastSyncError(), fo.f.Status())
	}
	if n := logged(fo.log, "no manager reachable"); n != 1 {
		t.Fatalf("'no manager reachable' logged %d times over several rounds, want once", n)
	}
}

func TestSilentManagerIsLeftAfterThePeerTimeout(t *testing.T) {
	sw := newSwarm(t)
	c1, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	// The manager instance paces keepalives and tells the follower.
	m1 := startManager(t, c1, ServerConfig{Keepalive: 100 * time.Millisecond, PeerTimeout: 400 * time.Millisecond})
	d := testData(5, 2)
	m1.store.Update(d)
	fo := startFollower(t, wcreds, []string{m1.addr}, func(c *FollowerConfig) {
		c.Keepalive, c.PeerTimeout = 100*time.Millisecond, 3*time.Second
	})
	fo.waitData(t, d, LocalState{})
	// The manager freezes: its stream stays open and says nothing.
	m1.srv.hub.mu.Lock()
	defer m1.srv.hub.mu.Unlock()
	frozen := time.Now()
	eventually(t, func() bool { return !fo.f.Status().Connected }, func() string { return "follower still follows a silent manager" })
	// The timeout told (400 ms), not the follower's own (3 s), and a
	// check (a third of it) at most beyond it.
	if took := time.Since(frozen); took > 2*time.Second {
		t.Errorf("follower left the silent manager after %s, want the 400 ms it was told and at most a check more", took)
	}
	if fs := fo.f.Status(); fs.LastError == "" {
		t.Fatalf("status %+v names no reason", fs)
	}
}

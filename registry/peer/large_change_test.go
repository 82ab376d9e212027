package peer

import (
	"testing"

	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

func TestChangeTooLargeForOneMessageIsSentAsTheWholeData(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{})
	d := testData(2000, 10)
	m.store.Update(d)
	fo := startFollower(t, wcreds, []string{m.addr}, nil)
	fo.waitData(t, d, LocalState{})

	// Every one of 20,000 tasks restarted: a change of about 2.5 MB,
	// more than a follower takes in one message.
	d = bigChanges(m, d, 1)
	fo.waitData(t, d, LocalState{})
	if n := m.srv.Status().Resets; n != 2 {
		t.Errorf("whole data sent %d times, want twice (first sync, then for the large change)", n)
	}
	if n := logged(fo.log, "manager lost"); n != 0 {
		t.Errorf("follower lost its manager %d times, want none", n)
	}

	// The history goes on after it: a small change is a change again.
	d = withTask(d, 0, testTask(0, 0, 7))
	m.store.Update(d)
	fo.waitData(t, d, LocalState{})
	if n := m.srv.Status().Resets; n != 2 {
		t.Errorf("whole data sent %d times after a small change, want still twice", n)
	}
}

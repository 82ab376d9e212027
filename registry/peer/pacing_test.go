package peer

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

func TestPacingGrowsWithTheFollowerCount(t *testing.T) {
	base := pacing{interval: time.Second, timeout: 3 * time.Second}
	for _, tc := range []struct {
		name   string
		per, n int
		want   pacing
	}{
		{"no follower yet keeps the base pacing", 2000, 0, base},
		{"up to per followers keep the base pacing", 2000, 2000, base},
		{"one more than per doubles interval and timeout", 2000, 2001, pacing{2 * time.Second, 6 * time.Second}},
		{"ten thousand followers at 2,000 per interval: five times", 2000, 10000, pacing{5 * time.Second, 15 * time.Second}},
		{"per of zero keeps the base pacing for any number", 0, 1_000_000, base},
		{"a negative per keeps the base pacing for any number", -1, 1_000_000, base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := paceFor(base, tc.per, tc.n); got != tc.want {
				t.Errorf("paceFor(%v, %d, %d) = %v, want %v", base, tc.per, tc.n, got, tc.want)
			}
		})
	}
}

func TestKeepaliveIsDueAnIntervalAfterTheLastMessage(t *testing.T) {
	at := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		told time.Duration
		want time.Time
	}{
		{"before the follower is told a pacing one is due at once", 0, time.Time{}},
		{"once told, an interval after the last message sent", 5 * time.Second, at.Add(5 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keepaliveDue(at, tc.told); !got.Equal(tc.want) {
				t.Errorf("keepaliveDue(%v, %v) = %v, want %v", at, tc.told, got, tc.want)
			}
		})
	}
}

func TestAFollowerTakesThePacingAKeepaliveTells(t *testing.T) {
	own := pacing{interval: time.Second, timeout: 3 * time.Second}
	for _, tc := range []struct {
		name        string
		keepalives  []*peerpb.Keepalive
		want        pacing
		wantChanged bool
	}{
		{"an older instance's keepalive tells none: our own holds", []*peerpb.Keepalive{{}}, own, false},
		{"a paced keepalive sets the interval and the timeout", []*peerpb.Keepalive{{IntervalMs: 5000, TimeoutMs: 15000}},
			pacing{5 * time.Second, 15 * time.Second}, true},
		{"the same interval again leaves the ack loop alone", []*peerpb.Keepalive{{IntervalMs: 1000, TimeoutMs: 4000}},
			pacing{time.Second, 4 * time.Second}, false},
		{"the latest of several changes holds", []*peerpb.Keepalive{{IntervalMs: 2000, TimeoutMs: 6000}, {IntervalMs: 3000, TimeoutMs: 9000}},
			pacing{3 * time.Second, 9 * time.Second}, true},
		{"a keepalive without a timeout tells nothing", []*peerpb.Keepalive{{IntervalMs: 2000}}, own, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPaced(own)
			for _, k := range tc.keepalives {
				p.keepalive(k)
			}
			if got := (pacing{p.interval(), p.timeout()}); got != tc.want {
				t.Errorf("pacing %v, want %v", got, tc.want)
			}
			changed := false
			select {
			case <-p.changed:
				changed = true
			default:
			}
			if changed != tc.wantChanged {
				t.Errorf("ack loop told of a change: %v, want %v", changed, tc.wantChanged)
			}
		})
	}
}

// firstKeepalive reads the stream up to its first keepalive.
func firstKeepalive(t *testing.T, stream peerpb.Registry_FollowClient) *peerpb.Keepalive {
	t.Helper()
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("stream ended before a keepalive: %v", err)
		}
		if k := m.GetKeepalive(); k != nil {
			return k
		}
	}
}

func TestAManagerTellsEachFollowerItsPacingGrownWithTheFollowerCount(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	// 100 ms for up to 2 followers, 200 ms for 3 or 4.
	m := startManager(t, mcreds, ServerConfig{Keepalive: 100 * time.Millisecond, PeerTimeout: 300 * time.Millisecond, KeepaliveFollowers: 2})
	m.store.Update(testData(2, 1))
	waitHead(t, m, 1)
	for _, tc := range []struct {
		name                  string
		paced                 bool
		wantInterval, wantOut uint32
	}{
		{"the first paced follower is told the base pacing", true, 100, 300},
		{"an older follower is told the base pacing however many there are", false, 100, 300},
		{"a third follower is told twice the base", true, 200, 600},
		{"a fourth too", true, 200, 600},
		{"an older one still the base", false, 100, 300},
	} {
		// Each stays connected for the rows after it (cleaned up with t).
		stream := rawFollower(t, wcreds, m.addr, tc.paced, 50*time.Millisecond)
		t.Run(tc.name, func(t *testing.T) {
			k := firstKeepalive(t, stream)
			if k.IntervalMs != tc.wantInterval || k.TimeoutMs != tc.wantOut {
				t.Errorf("told %d ms / %d ms, want %d ms / %d ms", k.IntervalMs, k.TimeoutMs, tc.wantInterval, tc.wantOut)
			}
		})
	}
}

func TestAStreamThatCarriesChangesCarriesNoKeepalives(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{Keepalive: 200 * time.Millisecond, PeerTimeout: 10 * time.Second})
	m.store.Update(testData(5, 2))
	waitHead(t, m, 1)
	stream := rawFollower(t, wcreds, m.addr, true, 50*time.Millisecond)
	firstKeepalive(t, stream) // after the whole data: it tells the pacing

	// A change every 20 ms for a second: never quiet for 200 ms.
	const changes = 50
	go func() {
		for i := range changes {
			m.store.Update(withTask(testData(5, 2), 0, testTask(0, 0, i+1)))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var got, keepalives int
	for got < changes {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case msg.GetChange() != nil:
			got++
		case msg.GetKeepalive() != nil:
			keepalives++
		}
	}
	// The store may fold two updates into one publish: at most a gap
	// of twice 20 ms, far below the interval.
	if keepalives > 0 {
		t.Errorf("%d keepalives between %d changes 20 ms apart, interval 200 ms: want none", keepalives, changes)
	}
}

func TestAPacedFollowerThatStopsAckingIsDroppedAfterTheTimeoutItWasTold(t *testing.T) {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	wcreds, _ := sw.node(swarmpki.RoleWorker, "w1")
	m := startManager(t, mcreds, ServerConfig{Keepalive: 100 * time.Millisecond, PeerTimeout: 300 * time.Millisecond})
	m.store.Update(testData(2, 1))
	waitHead(t, m, 1)
	stream := rawFollower(t, wcreds, m.addr, true, 0)
	start := time.Now()
	var err error
	for err == nil {
		_, err = stream.Recv()
	}
	took := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("stream ended with %v, want DeadlineExceeded (follower silent)", err)
	}
	// The timeout, then at most one sweep (an interval) and some slack.
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("dropped after %s, want the 300 ms timeout and at most a sweep more", took)
	}
	if n := logged(m.log, "follower gone silent"); n != 1 {
		t.Errorf("'follower gone silent' logged %d times, want once", n)
	}
}

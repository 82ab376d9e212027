package forward

import (
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Health reports a silent upstream down, with the time left and its
// failures in a row, and a replying one up.
func TestHealthReportsEachUpstream(t *testing.T) {
	dead, alive := startUpstream(t, silent), startUpstream(t, answerA(60, 1))
	f := newForwarder(t, Config{Timeout: 100 * time.Millisecond}, dead.addr, alive.addr)
	var mu sync.Mutex
	clock := time.Unix(1_800_000_000, 0)
	f.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	if got := f.Health(); len(got) != 2 || got[0].Down || got[1].Down {
		t.Fatalf("before any query: %+v, want both up", got)
	}
	if _, err := f.Exchange(t.Context(), query("health.example.", dns.TypeA), false); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = clock.Add(300 * time.Millisecond)
	mu.Unlock()
	got := f.Health()
	want := []UpstreamHealth{
		{Addr: dead.addr, Down: true, DownFor: 700 * time.Millisecond, Failures: 1},
		{Addr: alive.addr},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("upstream %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	mu.Lock()
	clock = clock.Add(time.Second)
	mu.Unlock()
	if got := f.Health(); got[0].Down || got[0].Failures != 1 || got[0].Addr != dead.addr {
		t.Fatalf("after its down time: %+v, want up again with 1 failure in a row", got[0])
	}
}

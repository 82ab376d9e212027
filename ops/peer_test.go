package ops

import (
	"strings"
	"testing"
	"time"
)

func TestPeerMetrics(t *testing.T) {
	heard := time.Now().Add(-2 * time.Second)
	tests := []struct {
		name    string
		add     func(m *Metrics) error
		present []string
		absent  []string
	}{
		{"a connected follower says so, which manager, how far behind, when last heard and its switches",
			func(m *Metrics) error {
				return m.AddFollower(func() FollowerStatus {
					return FollowerStatus{Manager: "10.99.0.2:5354", ManagerNode: "m1", Connected: true, Behind: 3, LastHeard: heard, Switches: 2}
				})
			},
			[]string{"swarmdns_follower_connected 1", `swarmdns_follower_manager{manager="10.99.0.2:5354",node="m1"} 1`,
				"swarmdns_follower_behind_changes 3", "swarmdns_follower_last_contact_seconds 2.", "swarmdns_follower_switches_total 2"},
			[]string{"swarmdns_peer_followers"}},
		{"a follower that never reached a manager has no last contact",
			func(m *Metrics) error { return m.AddFollower(func() FollowerStatus { return FollowerStatus{} }) },
			[]string{"swarmdns_follower_connected 0", "swarmdns_follower_behind_changes 0"},
			[]string{"swarmdns_follower_last_contact_seconds", "swarmdns_follower_manager"}},
		{"a manager instance counts followers, changes, resets, drops, refusals and bytes",
			func(m *Metrics) error {
				return m.AddPeerServer(func() PeerServerStatus {
					return PeerServerStatus{Followers: 2, Changes: 7, Resets: 3, Dropped: 1, Refused: 4, SentBytes: 5000}
				})
			},
			[]string{"swarmdns_peer_followers 2", "swarmdns_peer_changes_total 7", "swarmdns_peer_resets_total 3",
				"swarmdns_peer_dropped_total 1", "swarmdns_peer_refused_total 4", "swarmdns_peer_sent_bytes_total 5000"},
			[]string{"swarmdns_follower_connected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true, 0)
			if err := tt.add(f.metrics); err != nil {
				t.Fatal(err)
			}
			body := f.scrape(t)
			for _, w := range tt.present {
				if !strings.Contains(body, "\n"+w) {
					t.Errorf("missing %q", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(body, "\n"+a) {
					t.Errorf("unexpected %q", a)
				}
			}
		})
	}
}

func TestReadinessOfAFollowerSaysWhichManagerAndHowFarBehind(t *testing.T) {
	heard := time.Now().Add(-1500 * time.Millisecond)
	tests := []struct {
		name     string
		synced   bool
		status   FollowerStatus
		wantCode int
		want     []string
	}{
		{"a connected follower names its manager, its node and the changes it lacks", true,
			FollowerStatus{Manager: "10.99.0.2:5354", ManagerNode: "m1", Connected: true, Behind: 2, LastHeard: heard}, 200,
			[]string{"ready\n", "following manager 10.99.0.2:5354 (node m1), 2 changes behind, last heard 1.5"}},
		{"a follower that lost its manager says which and why", true,
			FollowerStatus{Manager: "10.99.0.2:5354", LastError: "manager silent for 3s"}, 200,
			[]string{"ready\n", "following no manager; last 10.99.0.2:5354: manager silent for 3s"}},
		{"a follower that never had data says it follows none yet", false,
			FollowerStatus{}, 503,
			[]string{"not ready: no registry snapshot yet", "following no manager yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.synced, 30*time.Second)
			f.ops = New(Config{Store: f.store, Handler: f.handler, Metrics: f.metrics, StaleAfter: 30 * time.Second, Log: quietLog(),
				Follower: func() FollowerStatus { return tt.status }})
			code, body := f.get(t, "/readyz")
			if code != tt.wantCode {
				t.Errorf("code %d, want %d", code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %q lacks %q", body, w)
				}
			}
		})
	}
}

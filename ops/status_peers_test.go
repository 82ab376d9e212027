package ops

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestStatusOfAFollowerSaysWhomItFollowsHowFarBehindAndWhenItLastHeard(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		st    FollowerStatus
		check func(t *testing.T, f *followingJSON)
	}{
		{"connected: the manager, its node's hostname, the lag and the last word", FollowerStatus{
			Manager: "10.99.0.2:5354", ManagerNode: "node-a", Connected: true, Since: now.Add(-time.Minute),
			Behind: 3, LastHeard: now.Add(-2 * time.Second), Switches: 1,
		}, func(t *testing.T, f *followingJSON) {
			if f.Manager != "10.99.0.2:5354" || f.ManagerNode != "node-a" || f.ManagerHostname != "manager-1" || !f.Connected ||
				f.BehindChanges != 3 || f.Switches != 1 || f.Since == nil || f.SecondsSinceHeard == nil || *f.SecondsSinceHeard < 1.5 {
				t.Fatalf("following %+v", f)
			}
		}},
		{"lost: not connected, with the reason", FollowerStatus{
			Manager: "10.99.0.2:5354", LastError: "manager silent for 3s", LastHeard: now.Add(-10 * time.Second),
		}, func(t *testing.T, f *followingJSON) {
			if f.Connected || f.LastError != "manager silent for 3s" || f.SecondsSinceHeard == nil || *f.SecondsSinceHeard < 9 {
				t.Fatalf("following %+v", f)
			}
		}},
		{"never connected: nothing heard", FollowerStatus{}, func(t *testing.T, f *followingJSON) {
			if f.Connected || f.LastHeard != nil || f.Since != nil || f.Manager != "" {
				t.Fatalf("following %+v", f)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, true, 30*time.Second)
			f.ops = New(Config{Store: f.store, Handler: f.handler, Metrics: f.metrics, Log: quietLog(),
				Follower: func() FollowerStatus { return tc.st }})
			var got statusJSON
			if code := getJSONInto(t, f, "/v1/status", &got); code != 200 {
				t.Fatalf("GET /v1/status = %d", code)
			}
			if got.Peers != nil || got.Following == nil {
				t.Fatalf("a follower's status: following %+v, peers %+v", got.Following, got.Peers)
			}
			tc.check(t, got.Following)
		})
	}
}

// manyFollowers is a manager instance's peer server with n followers,
// node-0000 to node-(n-1); every hundredth is i/100 changes behind.
func manyFollowers(n int) PeerServerStatus {
	now := time.Now()
	st := PeerServerStatus{Followers: n, Head: 500, Changes: 500, SentBytes: 1 << 30}
	for i := n - 1; i >= 0; i-- { // in no order: the API sorts
		f := ConnectedFollower{Node: fmt.Sprintf("node-%04d", i), Role: "swarm-worker", Addr: fmt.Sprintf("10.1.%d.%d:40000", i/256, i%256),
			Since: now.Add(-time.Hour), LastHeard: now.Add(-time.Second), SentBytes: 1 << 20}
		if i%100 == 0 {
			f.Behind = uint64(i / 100)
		}
		st.Connected = append(st.Connected, f)
	}
	return st
}

func TestStatusOfAManagerPagesItsFollowersMostBehindFirst(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	st := manyFollowers(1200)
	f.ops = New(Config{Store: f.store, Handler: f.handler, Metrics: f.metrics, Log: quietLog(),
		PeerServer: func() PeerServerStatus { return st }})
	nodes := func(p *peersJSON) []string {
		var out []string
		for _, f := range p.Page.Followers {
			out = append(out, f.Node)
		}
		return out
	}
	tests := []struct {
		name      string
		query     string
		total     int
		wantFirst []string
		wantLen   int
	}{
		{"the first page holds the 20 most behind, then by node", "", 1200,
			[]string{"node-1100", "node-1000", "node-0900", "node-0800", "node-0700", "node-0600", "node-0500", "node-0400", "node-0300", "node-0200", "node-0100", "node-0000", "node-0001"}, 20},
		{"an offset pages on in the same order", "?followers_offset=20&followers_limit=3", 1200, []string{"node-0009", "node-0010", "node-0011"}, 3},
		{"a page is at most 200", "?followers_limit=100000", 1200, []string{"node-1100"}, 200},
		{"the filter matches a node ID", "?followers_q=NODE-011", 10, []string{"node-0110", "node-0111"}, 10},
		{"the filter matches an address", "?followers_q=10.1.4.", 176, []string{"node-1100", "node-1024"}, 20},
		{"past the end the page is empty", "?followers_offset=5000", 1200, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got statusJSON
			if code := getJSONInto(t, f, "/v1/status"+tc.query, &got); code != 200 {
				t.Fatalf("GET /v1/status%s = %d", tc.query, code)
			}
			p := got.Peers
			if p == nil || got.Following != nil {
				t.Fatalf("a manager's status: peers %+v, following %+v", p, got.Following)
			}
			if p.Followers != 1200 || p.Lagging != 11 || p.MostBehindChanges != 11 || p.Head != 500 || p.SentBytes != 1<<30 {
				t.Fatalf("summary %+v, want 1200 followers, 11 behind by up to 11 changes", p)
			}
			ns := nodes(p)
			if p.Page.Total != tc.total || len(ns) != tc.wantLen || !strings.HasPrefix(strings.Join(ns, ","), strings.Join(tc.wantFirst, ",")) {
				t.Fatalf("page of %d: %v, want %d of %d starting %v", p.Page.Total, ns, tc.wantLen, tc.total, tc.wantFirst)
			}
			if tc.wantLen > 0 {
				first := p.Page.Followers[0]
				if first.Role != "swarm-worker" || first.Addr == "" || first.SecondsConnected < 3599 || first.SentBytes != 1<<20 {
					t.Fatalf("follower %+v", first)
				}
			}
		})
	}
	t.Run("a bad page is a 400 with the reason", func(t *testing.T) {
		code, body := f.get(t, "/v1/status?followers_limit=-1")
		if code != 400 || !strings.Contains(body, `followers_limit \"-1\" is not a non-negative integer`) {
			t.Fatalf("GET = %d %s", code, body)
		}
	})
	t.Run("the answer stays small with 1200 followers", func(t *testing.T) {
		if _, body := f.get(t, "/v1/status"); len(body) > 16<<10 {
			t.Fatalf("status is %d bytes", len(body))
		}
	})
}

func TestStatusOfAManagerShowsTheNodesHostname(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	st := PeerServerStatus{Followers: 1, Connected: []ConnectedFollower{{Node: "node-a", Role: "swarm-manager", Addr: "10.0.0.1:1"}}}
	f.ops = New(Config{Store: f.store, Handler: f.handler, Metrics: f.metrics, Log: quietLog(),
		PeerServer: func() PeerServerStatus { return st }})
	var got statusJSON
	getJSONInto(t, f, "/v1/status", &got)
	if fl := got.Peers.Page.Followers; len(fl) != 1 || fl[0].Hostname != "manager-1" {
		t.Fatalf("followers %+v, want node-a as manager-1", fl)
	}
}

func TestStatusOfAFileSourceHasNeitherFollowingNorPeers(t *testing.T) {
	f := newFixture(t, true, 30*time.Second)
	code, body := f.get(t, "/v1/status")
	if code != 200 || strings.Contains(body, `"following"`) || strings.Contains(body, `"peers"`) {
		t.Fatalf("GET = %d %s", code, body)
	}
}

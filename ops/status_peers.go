package ops

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/swarmdns/swarmdns/registry"
)

// The parts of /v1/status a sidecar on a Swarm node adds: on a follower,
// the manager instance it follows; on a manager instance, its followers,
// a page at a time (a manager may have thousands).

// followingJSON is the manager instance a follower follows.
type followingJSON struct {
	// Manager is its peer address, ManagerNode its node ID and
	// ManagerHostname that node's hostname when the registry knows it.
	Manager         string `json:"manager,omitempty"`
	ManagerNode     string `json:"manager_node,omitempty"`
	ManagerHostname string `json:"manager_hostname,omitempty"`
	Connected       bool   `json:"connected"`
	// Since is when the current (or last) session began.
	Since             *time.Time `json:"since,omitempty"`
	BehindChanges     uint64     `json:"behind_changes"`
	LastHeard         *time.Time `json:"last_heard,omitempty"`
	SecondsSinceHeard *float64   `json:"seconds_since_heard,omitempty"`
	Switches          uint64     `json:"switches"`
	LastError         string     `json:"last_error,omitempty"`
}

// peersJSON is a manager instance's peer server and one page of its
// followers.
type peersJSON struct {
	Head      uint64 `json:"head"`      // the latest change's counter
	Followers int    `json:"followers"` // connected
	// Lagging counts the followers a change or more behind;
	// MostBehindChanges is the largest lag.
	Lagging           int              `json:"lagging"`
	MostBehindChanges uint64           `json:"most_behind_changes"`
	Changes           uint64           `json:"changes"`
	Resets            uint64           `json:"resets"`
	Dropped           uint64           `json:"dropped"`
	Refused           uint64           `json:"refused"`
	SentBytes         uint64           `json:"sent_bytes"`
	Page              followerPageJSON `json:"page"`
}

// followerPageJSON is one page of the followers that match Q, the most
// behind first, then by node.
type followerPageJSON struct {
	Q         string              `json:"q,omitempty"`
	Total     int                 `json:"total"` // followers that match Q
	Offset    int                 `json:"offset"`
	Limit     int                 `json:"limit"`
	Followers []connectedFollower `json:"followers"`
}

type connectedFollower struct {
	Node              string    `json:"node"`
	Hostname          string    `json:"hostname,omitempty"`
	Role              string    `json:"role"`
	Addr              string    `json:"addr"`
	Since             time.Time `json:"since"`
	SecondsConnected  float64   `json:"seconds_connected"`
	SecondsSinceHeard float64   `json:"seconds_since_heard"`
	BehindChanges     uint64    `json:"behind_changes"`
	SentBytes         uint64    `json:"sent_bytes"`
}

const (
	defaultFollowerPage = 20
	maxFollowerPage     = 200
)

// followerPage is what /v1/status is asked of the followers:
// followers_q, followers_offset, followers_limit.
type followerPage struct {
	q             string
	offset, limit int
}

func parseFollowerPage(v url.Values) (followerPage, error) {
	p := followerPage{q: strings.TrimSpace(v.Get("followers_q"))}
	var err error
	if p.offset, err = intParam(v.Get("followers_offset"), 0, "followers_offset"); err != nil {
		return p, err
	}
	if p.limit, err = intParam(v.Get("followers_limit"), defaultFollowerPage, "followers_limit"); err != nil {
		return p, err
	}
	p.limit = min(max(p.limit, 1), maxFollowerPage)
	return p, nil
}

func followingView(st FollowerStatus, snap *registry.Snapshot, now time.Time) *followingJSON {
	out := &followingJSON{
		Manager: st.Manager, ManagerNode: st.ManagerNode, Connected: st.Connected,
		BehindChanges: st.Behind, Switches: st.Switches, LastError: st.LastError,
	}
	if snap != nil && st.ManagerNode != "" {
		out.ManagerHostname = hostnames(snap, []string{st.ManagerNode})[st.ManagerNode]
	}
	if !st.Since.IsZero() {
		since := st.Since
		out.Since = &since
	}
	if !st.LastHeard.IsZero() {
		heard, ago := st.LastHeard, now.Sub(st.LastHeard).Seconds()
		out.LastHeard, out.SecondsSinceHeard = &heard, &ago
	}
	return out
}

func peersView(st PeerServerStatus, snap *registry.Snapshot, page followerPage, now time.Time) *peersJSON {
	out := &peersJSON{
		Head: st.Head, Followers: st.Followers, Changes: st.Changes, Resets: st.Resets,
		Dropped: st.Dropped, Refused: st.Refused, SentBytes: st.SentBytes,
	}
	q := strings.ToLower(page.q)
	match := make([]ConnectedFollower, 0, len(st.Connected))
	for _, f := range st.Connected {
		if f.Behind > 0 {
			out.Lagging++
		}
		out.MostBehindChanges = max(out.MostBehindChanges, f.Behind)
		if q == "" || strings.Contains(strings.ToLower(f.Node), q) || strings.Contains(strings.ToLower(f.Addr), q) {
			match = append(match, f)
		}
	}
	slices.SortFunc(match, func(a, b ConnectedFollower) int {
		return cmp.Or(cmp.Compare(b.Behind, a.Behind), strings.Compare(a.Node, b.Node), strings.Compare(a.Addr, b.Addr))
	})
	out.Page = followerPageJSON{Q: page.q, Total: len(match), Offset: page.offset, Limit: page.limit, Followers: []connectedFollower{}}
	from := min(page.offset, len(match))
	shown := match[from:min(from+page.limit, len(match))]
	var names map[string]string
	if snap != nil {
		ids := make([]string, len(shown))
		for i, f := range shown {
			ids[i] = f.Node
		}
		names = hostnames(snap, ids)
	}
	for _, f := range shown {
		out.Page.Followers = append(out.Page.Followers, connectedFollower{
			Node: f.Node, Hostname: names[f.Node], Role: f.Role, Addr: f.Addr, Since: f.Since,
			SecondsConnected: now.Sub(f.Since).Seconds(), SecondsSinceHeard: now.Sub(f.LastHeard).Seconds(),
			BehindChanges: f.Behind, SentBytes: f.SentBytes,
		})
	}
	return out
}

// hostnames maps the node IDs asked for to their hostnames in the
// snapshot's data.
func hostnames(snap *registry.Snapshot, ids []string) map[string]string {
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		out[id] = ""
	}
	for _, n := range snap.Data.Nodes {
		if _, asked := out[n.ID]; asked {
			out[n.ID] = n.Hostname
		}
	}
	return out
}

package ops

import (
	"net/http"
	"net/netip"
	"time"
)

// The JSON of /v1/status: what the page's "Now" shows.
type statusJSON struct {
	Source sourceJSON `json:"source"`
	// State is "current", "stale" (answers come from data that may be
	// old: readiness fails, or the last sync failed) or "no data".
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Ready  bool   `json:"ready"`

	Domain           string     `json:"domain"`
	Serial           uint32     `json:"serial,omitempty"`
	Built            *time.Time `json:"built,omitempty"`
	LastSync         *time.Time `json:"last_sync,omitempty"`
	SecondsSinceSync *float64   `json:"seconds_since_sync,omitempty"`
	LastSyncError    string     `json:"last_sync_error,omitempty"`
	SyncErrors       uint64     `json:"sync_errors"`
	Swaps            uint64     `json:"swaps"`
	StaleAfter       float64    `json:"stale_after_seconds"`
	DefaultScheduler string     `json:"default_scheduler"`
	Stats            *statsJSON `json:"stats,omitempty"`
	Networks         []netJSON  `json:"networks"`

	// Following is, on a follower, the manager instance it follows;
	// Peers, on a manager instance, its followers (status_peers.go).
	Following *followingJSON `json:"following,omitempty"`
	Peers     *peersJSON     `json:"peers,omitempty"`
}

type sourceJSON struct {
	Kind   string `json:"kind"`
	Origin string `json:"origin,omitempty"`
	Stales bool   `json:"stales"`
}

type netJSON struct {
	Name    string   `json:"name"`
	ID      string   `json:"id"`
	Subnets []string `json:"subnets,omitempty"`
	// Client is an address in the network's first subnet: a query from
	// it gets the network's view (for /v1/resolve's client).
	Client string `json:"client,omitempty"`
}

// status serves /v1/status.
func (o *Ops) status(w http.ResponseWriter, r *http.Request) {
	page, err := parseFollowerPage(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, o.statusView(time.Now(), page))
}

func (o *Ops) statusView(now time.Time, page followerPage) *statusJSON {
	st := o.cfg.Store
	src := st.Source()
	out := &statusJSON{
		Source:           sourceJSON{Kind: src.Kind, Origin: src.Origin, Stales: src.Stales},
		Domain:           st.Config().Domain,
		LastSyncError:    st.LastSyncError(),
		SyncErrors:       st.SyncErrors(),
		Swaps:            st.Swaps(),
		StaleAfter:       time.Duration(o.staleAfter.Load()).Seconds(),
		DefaultScheduler: st.Config().Policy,
		Networks:         []netJSON{},
	}
	if last := st.LastSync(); !last.IsZero() {
		since := now.Sub(last).Seconds()
		out.LastSync, out.SecondsSinceSync = &last, &since
	}
	reason := o.notReady(now)
	out.Ready = reason == ""
	snap := st.Snapshot()
	if o.cfg.Follower != nil {
		out.Following = followingView(o.cfg.Follower(), snap, now)
	}
	if o.cfg.PeerServer != nil {
		out.Peers = peersView(o.cfg.PeerServer(), snap, page, now)
	}
	switch {
	case snap == nil:
		out.State, out.Reason = "no data", reason
	case reason != "":
		out.State, out.Reason = "stale", reason
	case out.LastSyncError != "":
		out.State = "stale"
		out.Reason = "the last sync failed; answers come from the snapshot of " + snap.Built.UTC().Format(time.RFC3339) + ": " + out.LastSyncError
	default:
		out.State = "current"
	}
	if snap == nil {
		return out
	}
	s := snap.Stats()
	out.Serial, out.Built = snap.Serial, &snap.Built
	out.Stats = &statsJSON{Services: s.Services, Tasks: s.Tasks, Names: s.Names}
	for _, n := range snap.Data.Networks {
		if n.Ingress {
			continue
		}
		nj := netJSON{Name: n.Name, ID: n.ID}
		for _, p := range n.Subnets {
			nj.Subnets = append(nj.Subnets, p.String())
		}
		if len(n.Subnets) > 0 {
			nj.Client = clientIn(n.Subnets[0]).String()
		}
		out.Networks = append(out.Networks, nj)
	}
	return out
}

// clientIn picks an address inside p: the one after its first.
func clientIn(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if n := a.Next(); n.IsValid() && p.Contains(n) {
		return n
	}
	return a
}

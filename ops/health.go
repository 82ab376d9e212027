package ops

import (
	"fmt"
	"net/http"
	"time"
)

// healthz says the process is up and serving HTTP; nothing more.
func (o *Ops) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// readyz says whether the answers are current: a snapshot is published,
// every --network is one of its networks and, for a source whose data can
// go stale, it synced within StaleAfter.
func (o *Ops) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	now := time.Now()
	if reason := o.notReady(now); reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:", reason)
	} else {
		fmt.Fprintln(w, "ready")
	}
	if o.cfg.Follower != nil {
		fmt.Fprintln(w, following(o.cfg.Follower(), now))
	}
}

// notReady returns why swarmdns is not ready, or "".
func (o *Ops) notReady(now time.Time) string {
	st := o.cfg.Store
	if st.Snapshot() == nil {
		reason := "no registry snapshot yet: the first sync has not finished"
		if e := st.LastSyncError(); e != "" {
			reason += "; last sync error: " + e
		}
		return reason
	}
	if np := st.NetworkProblem(); np != "" {
		return np + "; clients with no network context get no answers"
	}
	stale := time.Duration(o.staleAfter.Load())
	if stale <= 0 || !st.Source().Stales {
		return ""
	}
	if age := now.Sub(st.LastSync()); age > stale {
		reason := fmt.Sprintf("registry is stale: last successful sync %s ago, more than --stale-after %s", age.Round(time.Second), stale)
		if e := st.LastSyncError(); e != "" {
			reason += "; last sync error: " + e
		}
		return reason
	}
	return ""
}

package ops

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FollowerStatus is a follower's state, read at scrape time and by
// /readyz: which manager instance it follows and how far behind it is.
type FollowerStatus struct {
	// Manager is the peer address of the manager instance followed (or
	// last followed), ManagerNode its node ID; Connected is false while
	// none is.
	Manager, ManagerNode string
	Connected            bool
	// Since is when the current (or last) session began (zero: none yet).
	Since time.Time
	// Behind is how many changes the manager announced that the follower
	// has not applied.
	Behind uint64
	// LastHeard is when the manager last said anything (zero: never).
	LastHeard time.Time
	// Switches counts the sessions begun with another manager than the
	// one before.
	Switches uint64
	// LastError is why the last session ended, if it did.
	LastError string
}

// PeerServerStatus is a manager instance's peer server, read at scrape
// time and by /v1/status.
type PeerServerStatus struct {
	Followers int
	// Changes published, whole data sent (resets), followers dropped for
	// not reading, handshakes refused, bytes sent.
	Changes, Resets, Dropped, Refused, SentBytes uint64
	// Head is the counter of the latest change.
	Head uint64
	// Connected are the followers connected, in no order (/v1/status
	// sorts and pages them; the metrics only count them).
	Connected []ConnectedFollower
}

// ConnectedFollower is one follower connected to a manager instance.
type ConnectedFollower struct {
	// Node and Role are what its certificate names (swarm-worker or
	// swarm-manager); Addr is the address it connects from.
	Node, Role, Addr string
	// Since is when its stream began; LastHeard when it last said
	// anything.
	Since, LastHeard time.Time
	// Behind is how many changes it has not said it applied.
	Behind    uint64
	SentBytes uint64
}

var (
	descFollowerConnected = prometheus.NewDesc("swarmdns_follower_connected", "1 while the follower has a session with a manager instance, else 0.", nil, nil)
	descFollowerBehind    = prometheus.NewDesc("swarmdns_follower_behind_changes", "Changes the followed manager instance announced that the follower has not applied.", nil, nil)
	descFollowerContact   = prometheus.NewDesc("swarmdns_follower_last_contact_seconds", "Seconds since the followed manager instance last said anything (keepalives included); absent before the first.", nil, nil)
	descFollowerSwitches  = prometheus.NewDesc("swarmdns_follower_switches_total", "Sessions begun with another manager instance than the one before.", nil, nil)
	descFollowerManager   = prometheus.NewDesc("swarmdns_follower_manager", "1 for the manager instance the follower follows (or last followed): its peer address and node ID; absent before the first.", []string{"manager", "node"}, nil)

	descPeerFollowers = prometheus.NewDesc("swarmdns_peer_followers", "Followers connected to this manager instance.", nil, nil)
	descPeerChanges   = prometheus.NewDesc("swarmdns_peer_changes_total", "Changes this manager instance published to its followers.", nil, nil)
	descPeerResets    = prometheus.NewDesc("swarmdns_peer_resets_total", "Whole registry data sent to a follower (first contact, another epoch, lagged).", nil, nil)
	descPeerDropped   = prometheus.NewDesc("swarmdns_peer_dropped_total", "Followers dropped for not reading.", nil, nil)
	descPeerRefused   = prometheus.NewDesc("swarmdns_peer_refused_total", "Peer connections refused at the TLS handshake (no certificate, another Swarm's, a worker posing as a manager).", nil, nil)
	descPeerSent      = prometheus.NewDesc("swarmdns_peer_sent_bytes_total", "Bytes of protocol messages sent to followers.", nil, nil)
)

type followerCollector struct{ status func() FollowerStatus }

// Describe implements prometheus.Collector.
func (c followerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFollowerConnected, descFollowerBehind, descFollowerContact, descFollowerSwitches, descFollowerManager} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c followerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descFollowerConnected, prometheus.GaugeValue, connected)
	ch <- prometheus.MustNewConstMetric(descFollowerBehind, prometheus.GaugeValue, float64(st.Behind))
	if !st.LastHeard.IsZero() {
		ch <- prometheus.MustNewConstMetric(descFollowerContact, prometheus.GaugeValue, time.Since(st.LastHeard).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descFollowerSwitches, prometheus.CounterValue, float64(st.Switches))
	if st.Manager != "" {
		ch <- prometheus.MustNewConstMetric(descFollowerManager, prometheus.GaugeValue, 1, st.Manager, st.ManagerNode)
	}
}

type peerServerCollector struct{ status func() PeerServerStatus }

// Describe implements prometheus.Collector.
func (c peerServerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeerFollowers, descPeerChanges, descPeerResets, descPeerDropped, descPeerRefused, descPeerSent} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c peerServerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	ch <- prometheus.MustNewConstMetric(descPeerFollowers, prometheus.GaugeValue, float64(st.Followers))
	for _, m := range []struct {
		d *prometheus.Desc
		v uint64
	}{{descPeerChanges, st.Changes}, {descPeerResets, st.Resets}, {descPeerDropped, st.Dropped}, {descPeerRefused, st.Refused}, {descPeerSent, st.SentBytes}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
}

// AddFollower exports a follower's status (swarmdns_follower_*); call it
// once, on a follower.
func (m *Metrics) AddFollower(status func() FollowerStatus) error {
	return m.reg.Register(followerCollector{status})
}

// AddPeerServer exports a manager instance's peer server
// (swarmdns_peer_*); call it once, on a manager instance.
func (m *Metrics) AddPeerServer(status func() PeerServerStatus) error {
	return m.reg.Register(peerServerCollector{status})
}

// following is the line /readyz adds on a follower: which manager it
// follows and how far behind it is.
func following(st FollowerStatus, now time.Time) string {
	switch {
	case st.Connected:
		s := fmt.Sprintf("following manager %s", st.Manager)
		if st.ManagerNode != "" {
			s += " (node " + st.ManagerNode + ")"
		}
		s += fmt.Sprintf(", %d changes behind", st.Behind)
		if !st.LastHeard.IsZero() {
			s += fmt.Sprintf(", last heard %s ago", now.Sub(st.LastHeard).Round(time.Millisecond))
		}
		return s
	case st.Manager != "":
		s := "following no manager; last " + st.Manager
		if st.LastError != "" {
			s += ": " + st.LastError
		}
		return s
	}
	return "following no manager yet"
}

package swarm

import (
	"time"

	"github.com/docker/docker/client"
	"github.com/sirupsen/logrus"
)

// unreachableEvery is how often the warning repeats while the engine
// stays unreachable: one line a minute, not one per retry.
const unreachableEvery = time.Minute

// whatToDo is what a user can do when no Docker engine answers.
const whatToDo = "start Docker, point DOCKER_HOST or --docker-host at a Swarm manager's Engine API, or serve a file with --registry-file; until then every name gets SERVFAIL"

// unreachable is what the source has said of a manager it cannot read:
// a warning at the first failed sync (with what to do when no engine
// answers at all), again every unreachableEvery while it lasts, and a
// line when it answers again.
type unreachable struct {
	since, warned time.Time // zero: reachable
}

// failed logs a failed sync at now.
func (u *unreachable) failed(log *logrus.Entry, host string, err error, now time.Time) {
	e := log.WithError(err).WithField("engine", host)
	if client.IsErrConnectionFailed(err) {
		e = e.WithField("fix", whatToDo)
	}
	switch {
	case u.since.IsZero():
		u.since, u.warned = now, now
		e.Warn("manager unreachable")
	case now.Sub(u.warned) >= unreachableEvery:
		u.warned = now
		e.WithField("for", now.Sub(u.since).Round(time.Second).String()).Warn("manager still unreachable")
	default:
		e.Debug("sync failed")
	}
}

// reached logs a good sync after failed ones.
func (u *unreachable) reached(log *logrus.Entry) {
	if !u.since.IsZero() {
		log.Info("manager reachable again")
		u.since, u.warned = time.Time{}, time.Time{}
	}
}

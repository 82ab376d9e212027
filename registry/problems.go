package registry

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// problemReport is what the Store tells of the problems of the data it
// publishes: a source that cannot refuse its data (a live Swarm) still
// gets each problem logged, once when it appears rather than at every
// publish, counted by label for the metrics, and a --network that names
// no network of the data fails readiness.
type problemReport struct {
	logged      map[string]bool // the warnings of the last publish
	labelErrors atomic.Pointer[map[string]int]
	netProblem  atomic.Pointer[string]

	// The data rules cost a quarter of a full build on a large registry,
	// more than a layered publish: the data of a source that does not
	// check its own is checked at most once in checkShare times what the
	// last check took, the newest data then.
	lastCheck time.Time
	lastCost  time.Duration
	later     *time.Timer // a check of the newest data is due
	warnings  []error     // of the newest publish, for that check
}

// checkShare bounds the time spent checking data to one part in this
// many: a small registry is checked at every publish, a registry of
// 100,000 tasks (a check of about 50 ms) about once a second.
const checkShare = 20

// cheapCheck is a check that costs too little to put off.
const cheapCheck = 5 * time.Millisecond

// reportProblems reports the problems of d, just published with these
// warnings, now or once the last check is checkShare times its cost old;
// s.mu is held.
func (s *Store) reportProblems(d *Data, warnings []error) {
	r := &s.problems
	wait := checkShare*r.lastCost - time.Since(r.lastCheck)
	if r.lastCost < cheapCheck || wait <= 0 {
		r.check(s, d, warnings)
		return
	}
	r.warnings = warnings
	if r.later != nil {
		return
	}
	r.later = time.AfterFunc(wait, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		r.later = nil
		if cur := s.cur.Load(); cur != nil {
			r.check(s, cur.Data, r.warnings)
		}
	})
}

// check reports the problems of d and times it; s.mu is held.
func (r *problemReport) check(s *Store, d *Data, warnings []error) {
	r.lastCheck = time.Now()
	r.published(s.log, d, s.cfg.Networks, warnings, s.Source().Checked)
	r.lastCost = time.Since(r.lastCheck)
}

// published reports the problems of d, just built with these warnings.
// The Store's build lock is held.
func (r *problemReport) published(log *logrus.Entry, d *Data, networks []string, warnings []error, checked bool) {
	var problems []Problem
	if !checked {
		problems = CheckData(d)
	}
	now := make(map[string]bool, len(warnings)+len(problems))
	for _, w := range warnings {
		msg := w.Error()
		if !r.logged[msg] && !now[msg] {
			log.WithError(w).Warn("registry data ignored")
		}
		now[msg] = true
	}
	counts := make(map[string]int, len(Labels))
	for _, p := range problems {
		if p.Label != "" {
			// The build warned of it already, in its own words.
			counts[p.Label]++
			continue
		}
		msg := p.String(d)
		if !r.logged[msg] && !now[msg] {
			log.WithField("error", msg).Warn("registry data inconsistent")
		}
		now[msg] = true
	}
	r.logged = now
	r.labelErrors.Store(&counts)

	var np string
	if unknown := UnknownNetworks(d, networks); len(unknown) > 0 {
		np = networkProblem(d, unknown)
	}
	if old := r.netProblem.Load(); (old == nil && np != "") || (old != nil && *old != np) {
		if np != "" {
			log.WithField("error", np).Error("clients with no network context get no answers")
		} else {
			log.Info("every --network is a network of the registry again")
		}
	}
	if np == "" {
		r.netProblem.Store(nil)
	} else {
		r.netProblem.Store(&np)
	}
}

func networkProblem(d *Data, unknown []string) string {
	quoted := make([]string, len(unknown))
	for i, n := range unknown {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	names := make([]string, 0, len(d.Networks))
	for i := range d.Networks {
		if !d.Networks[i].Ingress {
			names = append(names, d.Networks[i].Name)
		}
	}
	verb := "names no network"
	if len(unknown) > 1 {
		verb = "name no networks"
	}
	has := "it has none"
	if len(names) > 0 {
		has = "it has " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("--network %s %s of the registry; %s", strings.Join(quoted, ", "), verb, has)
}

// LabelErrors counts, by label, the services and nodes of the published
// snapshot whose value of that swarmdns label is ignored.
func (s *Store) LabelErrors() map[string]int {
	if p := s.problems.labelErrors.Load(); p != nil {
		return *p
	}
	return nil
}

// NetworkProblem says which networks of Config.Networks (--network) the
// published data does not have, or "" when it has them all. Clients with
// no network context get no answers from such a view.
func (s *Store) NetworkProblem() string {
	if p := s.problems.netProblem.Load(); p != nil {
		return *p
	}
	return ""
}

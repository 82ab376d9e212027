//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/miekg/dns"
)

// Propagation polling: every pollEvery, each resolver is asked once with
// pollTimeout (Docker does not answer a name it no longer knows).
const (
	pollEvery   = 25 * time.Millisecond
	pollTimeout = 50 * time.Millisecond
	// settled: the Engine API and both resolvers agree this long.
	settled = 2 * time.Second
	// changeTimeout bounds one change; Swarm itself takes seconds.
	changeTimeout = 45 * time.Second
)

// sample is one answer at one time after the change began.
type sample struct {
	at  time.Duration
	set string
}

// timeline records a resolver's answers during one change.
type timeline struct {
	mu      sync.Mutex
	samples []sample
}

func (tl *timeline) add(at time.Duration, set string) {
	tl.mu.Lock()
	tl.samples = append(tl.samples, sample{at, set})
	tl.mu.Unlock()
}

// rightSince returns when the answer became want for good, and whether the
// last answer is want at all.
func (tl *timeline) rightSince(want string) (time.Duration, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := len(tl.samples)
	if n == 0 || tl.samples[n-1].set != want {
		return 0, false
	}
	i := n - 1
	for i > 0 && tl.samples[i-1].set == want {
		i--
	}
	return tl.samples[i].at, true
}

// goneSince returns when the last answer holding one of stale was seen
// (0 when none was), the time from which stale addresses are gone for good.
func (tl *timeline) goneSince(stale map[string]bool) time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var at time.Duration
	for i, s := range tl.samples {
		for _, a := range strings.Split(s.set, ",") {
			if stale[a] && i+1 < len(tl.samples) {
				at = tl.samples[i+1].at
			}
		}
	}
	return at
}

// stableFor reports whether every sample since now-d is want.
func (tl *timeline) stableFor(now, d time.Duration, want string) bool {
	at, ok := tl.rightSince(want)
	return ok && now-at >= d
}

// result is one measured change.
type result struct {
	change               string
	engine, docker, ours time.Duration
	// Stale addresses (answered before, not after) gone for good.
	dockerGone, oursGone time.Duration
	stale                bool
}

// measure applies a change and polls Docker's embedded DNS, swarmdns and
// the Engine API until all three have agreed for `settled`. It returns how
// long each took to give the final answer, from just before the change.
func measure(t *testing.T, change string, docker, ours *resolver, name string, truth func() (string, bool, error), apply func() error) result {
	t.Helper()
	var engine, dtl, otl timeline
	start := time.Now()
	since := func() time.Duration { return time.Since(start) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range []struct {
		r  *resolver
		tl *timeline
	}{{docker, &dtl}, {ours, &otl}} {
		wg.Go(func() {
			tick := time.NewTicker(pollEvery)
			defer tick.Stop()
			for {
				at := since()
				p.tl.add(at, p.r.query(name, dns.TypeA, pollTimeout).set())
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	if err := apply(); err != nil {
		t.Fatalf("%s: %v", change, err)
	}
	deadline := time.Now().Add(changeTimeout)
	for {
		time.Sleep(100 * time.Millisecond)
		want, done, err := truth()
		if err != nil {
			t.Fatalf("%s: engine: %v", change, err)
		}
		now := since()
		engine.add(now, want)
		if done && engine.stableFor(now, settled, want) && dtl.stableFor(now, settled/2, want) && otl.stableFor(now, settled/2, want) {
			if testing.Verbose() {
				t.Logf("%s: engine %s", change, engine.transitions())
				t.Logf("%s: docker %s", change, dtl.transitions())
				t.Logf("%s: swarmdns %s", change, otl.transitions())
			}
			r := result{change: change}
			stale := map[string]bool{}
			for _, a := range strings.Split(dtl.first()+","+otl.first(), ",") {
				if a != "" {
					stale[a] = true
				}
			}
			for _, a := range strings.Split(want, ",") {
				delete(stale, a)
			}
			r.stale = len(stale) > 0
			r.dockerGone, r.oursGone = dtl.goneSince(stale), otl.goneSince(stale)
			r.engine, _ = engine.rightSince(want)
			r.docker, _ = dtl.rightSince(want)
			r.ours, _ = otl.rightSince(want)
			return r
		}
		if time.Now().After(deadline) {
			d, _ := dtl.rightSince(want)
			o, ok := otl.rightSince(want)
			t.Fatalf("%s: no agreement after %s: engine %q; swarmdns right=%v since %s; docker since %s; last docker %v, swarmdns %v",
				change, changeTimeout, want, ok, o, d, lastSet(&dtl), lastSet(&otl))
		}
	}
}

// transitions describes when the answer changed, for the verbose log.
func (tl *timeline) transitions() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var b strings.Builder
	for i, s := range tl.samples {
		if i == 0 || s.set != tl.samples[i-1].set {
			fmt.Fprintf(&b, " %s:[%s]", s.at.Round(time.Millisecond), s.set)
		}
	}
	return b.String()
}

// first is the first answer recorded.
func (tl *timeline) first() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.samples) == 0 {
		return ""
	}
	return tl.samples[0].set
}

func lastSet(tl *timeline) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.samples) == 0 {
		return "-"
	}
	return tl.samples[len(tl.samples)-1].set
}

// TestPropagation drives changes on the real Swarm (scale up, scale down,
// docker kill of a task's container, a rolling update with --force, draining
// the service's tasks off the node with a constraint, removing the service)
// and measures, in the same run, how long Docker's embedded DNS and the
// real swarmdns binary (default --poll-interval) take to answer tasks.<svc>
// right, both asked from inside a real container on the service's network.
// It asserts that the final answer is right, not the time.
func TestPropagation(t *testing.T) {
	runs := 5
	if v, err := strconv.Atoi(os.Getenv("SWARMDNS_E2E_RUNS")); err == nil && v > 0 {
		runs = v
	}
	ctx := context.Background()
	docker, ours, _ := resolvers(t)
	svc := fx.prefix + "prop"
	name := "tasks." + svc
	// truthOf reads the service's running tasks on appnet from the Engine
	// API, and whether the change is complete: n tasks running and, when
	// idle, no update under way.
	truthOf := func(n int, idle bool) func() (string, bool, error) {
		return func() (string, bool, error) {
			addrs, err := fx.addrsOn(ctx, svc, fx.netAID)
			if err != nil && strings.Contains(err.Error(), "not found") {
				return "", n == 0, nil // removed
			}
			if err != nil {
				return "", false, err
			}
			s, _, err := fx.api.ServiceInspectWithRaw(ctx, svc, swarm.ServiceInspectOptions{})
			if err != nil {
				return "", false, err
			}
			updating := s.UpdateStatus != nil && s.UpdateStatus.State == swarm.UpdateStateUpdating
			return strings.Join(addrs, ","), len(addrs) == n && !(idle && updating), nil
		}
	}
	create := func() error {
		return createService(svc, "--replicas", "2", "--network", fx.netA,
			"--update-parallelism", "1", "--update-delay", "0s")
	}
	const drain = "node.labels.swarmdns-e2e-drain==true"
	type step struct {
		name  string
		tasks int  // running when the change is complete
		idle  bool // the change is an update that must complete
		apply func() error
		// after restores the state the next step starts from (not timed).
		after func() error
	}
	steps := []step{
		{name: "scale up 2→3", tasks: 3, apply: func() error { _, err := docker_("service", "scale", "-d", svc+"=3"); return err }},
		{name: "scale down 3→2", tasks: 2, apply: func() error { _, err := docker_("service", "scale", "-d", svc+"=2"); return err }},
		{name: "docker kill a task's container", tasks: 2, apply: func() error {
			// A running task's container, not one of a task shutting down.
			ts, err := fx.running(ctx, svc)
			if err != nil || len(ts) == 0 {
				return fmt.Errorf("no task to kill (%v)", err)
			}
			_, err = docker_("kill", ts[0].Status.ContainerStatus.ContainerID)
			return err
		}},
		{name: "rolling update --force", tasks: 2, idle: true, apply: func() error {
			_, err := docker_("service", "update", "-d", "--force", svc)
			return err
		}},
		{name: "drain the service's tasks (constraint)", tasks: 0, apply: func() error {
			// All tasks at once: one at a time, the update would wait
			// forever for the first replacement, which cannot be placed.
			_, err := docker_("service", "update", "-d", "--update-parallelism", "0", "--constraint-add", drain, svc)
			return err
		}, after: func() error {
			_, err := docker_("service", "update", "-d", "--update-parallelism", "1", "--constraint-rm", drain, svc)
			return err
		}},
		{name: "remove the service", tasks: 0, apply: func() error {
			_, err := docker_("service", "rm", svc)
			return err
		}, after: create},
	}

	if err := create(); err != nil {
		t.Fatal(err)
	}
	results := map[string][]result{}
	for run := range runs {
		// Every run starts from two running tasks that both resolvers know.
		measure(t, "settle", docker["a"], ours["a"], name, truthOf(2, true), func() error { return fx.waitRunning(svc, 2, changeTimeout) })
		for _, s := range steps {
			r := measure(t, s.name, docker["a"], ours["a"], name, truthOf(s.tasks, s.idle), s.apply)
			t.Logf("run %d %-40s engine %6s  docker %6s  swarmdns %6s  stale gone: docker %6s  swarmdns %6s", run+1, s.name,
				r.engine.Round(time.Millisecond), r.docker.Round(time.Millisecond), r.ours.Round(time.Millisecond),
				r.dockerGone.Round(time.Millisecond), r.oursGone.Round(time.Millisecond))
			results[s.name] = append(results[s.name], r)
			if s.after != nil {
				if err := s.after(); err != nil {
					t.Fatal(err)
				}
				if err := fx.waitRunning(svc, 2, changeTimeout); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d runs; milliseconds from the change command, p50 / p95 / max.\n\n", runs)
	b.WriteString("| change | answer final: Engine API | Docker 127.0.0.11 | swarmdns | removed addresses gone: Docker | swarmdns |\n|---|---|---|---|---|---|\n")
	for _, s := range steps {
		rs := results[s.name]
		col := func(get func(result) time.Duration) string {
			var ds []time.Duration
			for _, r := range rs {
				ds = append(ds, get(r))
			}
			slices.Sort(ds)
			q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds)-1)+0.5))] }
			ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
			return ms(q(0.5)) + " / " + ms(q(0.95)) + " / " + ms(ds[len(ds)-1])
		}
		dGone, oGone := "–", "–"
		if rs[0].stale {
			dGone = col(func(r result) time.Duration { return r.dockerGone })
			oGone = col(func(r result) time.Duration { return r.oursGone })
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", s.name,
			col(func(r result) time.Duration { return r.engine }),
			col(func(r result) time.Duration { return r.docker }),
			col(func(r result) time.Duration { return r.ours }), dGone, oGone)
	}
	t.Log(b.String())
	if out := os.Getenv("SWARMDNS_E2E_PROPAGATION"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// docker_ runs the docker CLI (docker is a parameter name in the tests).
func docker_(args ...string) (string, error) { return docker(args...) }

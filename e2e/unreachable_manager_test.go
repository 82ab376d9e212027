//go:build e2e

package e2e

// This file's name sorts last, and go test runs the tests of a package in
// file order: the test here stops the real dockerd, which replaces every
// task of the suite when it comes back, so it must run after the others.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/miekg/dns"
)

// dockerdPIDFile is where dockerd writes its PID by default.
const dockerdPIDFile = "/var/run/docker.pid"

// TestManagerOutage drives the real swarmdns binary through a real outage
// of the manager: it stops the real dockerd (SIGTERM, as systemd would),
// then starts it again with scripts/swarm-up.sh, and kills swarmdns with
// SIGKILL. While the engine is down, answers come from the last good
// snapshot, /readyz turns not-ready once --stale-after has passed, and
// the log says "manager unreachable" once however often the sync is
// retried; a swarmdns started during the outage answers SERVFAIL, never a
// guess. When the engine is back, both resync within their retry backoff
// and answer the tasks the restarted Swarm runs now (new IDs and
// addresses). A swarmdns killed with -9 and started again answers
// SERVFAIL until its first sync and the current data from then on.
//
// A registry file replaced by garbage keeps the old data: that needs no
// Swarm and is tested in registry (TestFileSourceReloadKeepsLastGoodData)
// and server (TestReloadWithABrokenFileKeepsServingTheOldData).
func TestManagerOutage(t *testing.T) {
	ctx := context.Background()
	svc := fx.rr
	counts, err := runningCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, err := fx.addrsOn(ctx, svc, fx.netAID)
	if err != nil {
		t.Fatal(err)
	}
	const staleAfter = 2 * time.Second
	stale := "--stale-after=" + staleAfter.String()
	long := startInstance(t, "127.0.0.1:0", true, stale)
	fresh := startInstance(t, "127.0.0.1:0", true, stale)
	rLong, rFresh := long.resolver(), fresh.resolver()
	answer := func(r *resolver) string { return r.query("tasks."+svc, dns.TypeA, time.Second).set() }
	for in, r := range map[*instance]*resolver{long: rLong, fresh: rFresh} {
		if err := waitFor(20*time.Second, func() bool {
			code, _ := in.readyz()
			return code == 200 && answer(r) == strings.Join(before, ",")
		}); err != nil {
			t.Fatalf("swarmdns on %s is not ready with tasks.%s: %v", in.addr, svc, err)
		}
	}

	// From here on the engine must come back whatever happens.
	t.Cleanup(func() {
		if err := restoreEngine(counts); err != nil {
			t.Errorf("restoring dockerd and the suite's services: %v", err)
		}
	})
	// Asked every 50 ms from before the engine stops until it starts again.
	watch := long.resolver()
	watchStop, watchDone := make(chan struct{}), make(chan struct{})
	var asked int
	var wrong []string
	var once sync.Once
	stopWatch := func() { once.Do(func() { close(watchStop); <-watchDone }) }
	t.Cleanup(stopWatch)
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-watchStop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			asked++
			if got := answer(watch); got != strings.Join(before, ",") {
				wrong = append(wrong, fmt.Sprintf("%q", got))
			}
		}
	}()
	stopped := stopDockerd(t)
	t.Logf("dockerd stopped in %s", time.Since(stopped).Round(time.Millisecond))

	t.Run("engine down: answers from the last good snapshot, /readyz stale, logged once", func(t *testing.T) {
		// Ask until /readyz fails: every answer is the old data.
		err := waitFor(staleAfter+10*time.Second, func() bool {
			if long.exited() {
				t.Fatal("swarmdns exited when the engine went away")
			}
			if got := answer(rLong); got != strings.Join(before, ",") {
				t.Fatalf("tasks.%s during the outage = %q, want the last good %v", svc, got, before)
			}
			code, _ := long.readyz()
			return code == 503
		})
		if err != nil {
			t.Fatalf("/readyz did not turn not-ready: %v", err)
		}
		if _, body := long.readyz(); !strings.Contains(body, "registry is stale") {
			t.Errorf("/readyz says %q, want it to say the registry is stale", body)
		}
		if got := answer(rLong); got != strings.Join(before, ",") {
			t.Errorf("tasks.%s once stale = %q, want the last good %v", svc, got, before)
		}
		// Several retries, one warning.
		if err := waitFor(10*time.Second, func() bool { return long.logCount(`msg="sync failed"`) >= 3 }); err != nil {
			t.Errorf("the sync is not retried: %d failed syncs logged", long.logCount(`msg="sync failed"`))
		}
		if n := long.logCount(`msg="manager unreachable"`); n != 1 {
			t.Errorf(`"manager unreachable" logged %d times, want once`, n)
		}
		if long.exited() || fresh.exited() {
			t.Fatal("swarmdns exited during the outage")
		}
	})

	t.Run("swarmdns killed -9 and started during the outage answers SERVFAIL, not ready", func(t *testing.T) {
		fresh.kill9()
		if err := fresh.start(); err != nil {
			t.Fatal(err)
		}
		err := waitFor(5*time.Second, func() bool {
			return rFresh.query("tasks."+svc, dns.TypeA, 200*time.Millisecond).rcode == dns.RcodeServerFailure
		})
		if err != nil {
			t.Fatalf("tasks.%s with no snapshot: %v, want SERVFAIL", svc, rFresh.query("tasks."+svc, dns.TypeA, time.Second))
		}
		if code, body := fresh.readyz(); code != 503 || !strings.Contains(body, "first sync has not finished") {
			t.Errorf("/readyz = %d %q, want 503: the first sync has not finished", code, body)
		}
	})

	var back time.Time
	var after []string
	t.Run("engine back: both resync within the backoff and answer current data", func(t *testing.T) {
		stopWatch()
		if len(wrong) > 0 {
			t.Errorf("%d of %d answers while the engine stopped and was down were not the last good data: %v", len(wrong), asked, wrong)
		} else {
			t.Logf("%d answers while the engine stopped and was down, all the last good data", asked)
		}
		startDockerd(t)
		// The engine answers again when a service list works.
		if err := waitFor(60*time.Second, func() bool {
			_, err := fx.api.ServiceList(ctx, swarm.ServiceListOptions{})
			return err == nil
		}); err != nil {
			t.Fatalf("the engine does not list services: %v", err)
		}
		back = time.Now()
		outage := back.Sub(stopped)
		// The retry delay doubles from 250 ms with jitter, capped at 30 s:
		// the one under way when the engine came back is at most twice the
		// outage so far (plus the first).
		bound := min(2*outage+250*time.Millisecond, 30*time.Second) + 2*time.Second
		for _, in := range []*instance{long, fresh} {
			if err := waitFor(bound, func() bool { code, _ := in.readyz(); return code == 200 }); err != nil {
				code, body := in.readyz()
				t.Errorf("swarmdns on %s not ready %s after the engine came back (outage %s): %d %s",
					in.addr, bound, outage.Round(time.Millisecond), code, body)
			}
			if in.exited() {
				t.Fatalf("swarmdns on %s exited", in.addr)
			}
		}
		t.Logf("outage %s; ready again %s after the engine", outage.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
		if n := long.logCount(`msg="manager reachable again"`); n != 1 {
			t.Errorf(`"manager reachable again" logged %d times, want once`, n)
		}
		if err := waitServices(counts, 90*time.Second); err != nil {
			t.Fatal(err)
		}
		var err error
		if after, err = fx.addrsOn(ctx, svc, fx.netAID); err != nil {
			t.Fatal(err)
		}
		t.Logf("tasks.%s before the outage %v, after %v", svc, before, after)
		for _, r := range []*resolver{rLong, rFresh} {
			if err := waitFor(10*time.Second, func() bool { return answer(r) == strings.Join(after, ",") }); err != nil {
				t.Errorf("tasks.%s = %q, want the tasks running now %v", svc, answer(r), after)
			}
		}
	})
	if after == nil {
		t.FailNow()
	}

	t.Run("swarmdns killed -9 and restarted serves from its first sync, SERVFAIL before", func(t *testing.T) {
		long.kill9()
		if err := long.start(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var replies []string
		for {
			r := rLong.query("tasks."+svc, dns.TypeA, 100*time.Millisecond)
			if r.positive() {
				if got := r.set(); got != strings.Join(after, ",") {
					t.Fatalf("first answer after the restart = %s, want %v", got, after)
				}
				break
			}
			if r.ok {
				replies = append(replies, dns.RcodeToString[r.rcode])
				if r.rcode != dns.RcodeServerFailure {
					t.Fatalf("before its first sync swarmdns answered %s, want SERVFAIL", r)
				}
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("no answer 5 s after the restart (replies: %v)", replies)
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Logf("answering %s after the restart; %d SERVFAIL before", time.Since(start).Round(time.Millisecond), len(replies))
	})
}

// runningCounts maps each service of the suite to its running tasks.
func runningCounts(ctx context.Context) (map[string]int, error) {
	svcs, err := fx.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("name", fx.prefix))})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range svcs {
		ts, err := fx.running(ctx, s.Spec.Name)
		if err != nil {
			return nil, err
		}
		out[s.Spec.Name] = len(ts)
	}
	return out, nil
}

// waitServices waits until every service runs its count of tasks again.
func waitServices(counts map[string]int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for name, n := range counts {
		if err := fx.waitRunning(name, n, time.Until(deadline)); err != nil {
			return err
		}
	}
	return nil
}

// stopDockerd stops the real dockerd with SIGTERM and waits until it has
// exited; it returns when it sent the signal.
func stopDockerd(t *testing.T) time.Time {
	t.Helper()
	data, err := os.ReadFile(dockerdPIDFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("%s: %v", dockerdPIDFile, err)
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "dockerd" {
		t.Fatalf("%s names PID %d, which is not dockerd (%q)", dockerdPIDFile, pid, comm)
	}
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(60*time.Second, func() bool { return !alive(pid) }); err != nil {
		t.Fatalf("dockerd (PID %d) did not exit: %v", pid, err)
	}
	return at
}

// alive reports whether pid runs (a zombie has exited).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// startDockerd starts dockerd and the Swarm again the way `make e2e` first
// did, with scripts/swarm-up.sh (it does nothing when dockerd answers).
func startDockerd(t testing.TB) {
	t.Helper()
	if err := swarmUp(); err != nil {
		t.Fatal(err)
	}
}

func swarmUp() error {
	out, err := exec.Command("../scripts/swarm-up.sh").CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/swarm-up.sh: %v\n%s", err, out)
	}
	return nil
}

// restoreEngine brings dockerd and the swarm back if they are not, and
// waits until the suite's services run their tasks again, so that the
// suite's teardown and whatever runs next find the Swarm as it was.
func restoreEngine(counts map[string]int) error {
	if err := swarmUp(); err != nil {
		return err
	}
	return waitServices(counts, 120*time.Second)
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/internal/freeport"
	"github.com/swarmdns/swarmdns/internal/secondary"
)

const (
	// zone is swarmdns's default --domain, the zone Knot transfers.
	zone = "swarm.internal."
	// xfrPoll: each resolver is asked once every xfrPoll, waiting as long
	// for the answer.
	xfrPoll = 50 * time.Millisecond
	// knotBound is how long after swarmdns Knot may answer a new task: at
	// most one --notify-interval (1 s by default) before the NOTIFY goes,
	// then one IXFR on loopback.
	knotBound = 3 * time.Second
	// xfrSettled: every resolver has given the final answer this long.
	xfrSettled = time.Second
)

// scaleUpTimes is one measured scale up: from the docker command until
// each gave the final task set for good.
type scaleUpTimes struct {
	change                     string
	engine, ours, docker, knot time.Duration
}

// TestScaleUpReachesAKnotSecondary drives a real `swarmdns serve` on the
// real Swarm as the primary of swarm.internal for a real Knot (knotd,
// Debian knot) on loopback, with --transfer-allow 127.0.0.0/8 and
// --notify to Knot. A service on appnet is scaled up with
// `docker service scale`, three times; each time, swarmdns (from the
// host), Docker's embedded DNS (127.0.0.11 inside a task container on
// appnet) and Knot are asked tasks.<svc> every 50 ms. It asserts that all
// three come to the Engine API's task set, that Knot took the change by
// IXFR after a NOTIFY (its log), and that Knot answers within knotBound
// of swarmdns; it logs the times as a table.
func TestScaleUpReachesAKnotSecondary(t *testing.T) {
	ctx := context.Background()
	knotPort := freeport.Loopback(t)
	knotAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), knotPort)
	in := startInstance(t, "127.0.0.1:0", false, "--transfer-allow", "127.0.0.0/8", "--notify", knotAddr.String())
	primary := netip.MustParseAddrPort(in.addr)
	serial := func() (uint32, error) { return soaSerial(in.addr) }
	if err := waitFor(30*time.Second, func() bool { _, err := serial(); return err == nil }); err != nil {
		t.Fatalf("swarmdns does not answer the SOA of %s: %v", zone, err)
	}
	knot := secondary.Start(t, secondary.Config{Kind: secondary.Knot, Primary: primary, Zones: []string{zone}, Port: knotPort})
	s, err := serial()
	if err != nil {
		t.Fatal(err)
	}
	if err := knot.WaitSerial(zone, s, 15*time.Second); err != nil {
		t.Fatalf("Knot's first transfer: %v\n%s", err, knot.Log())
	}

	svc := fx.prefix + "xfr"
	t.Cleanup(func() { docker("service", "rm", svc) })
	if err := createService(svc, "--replicas", "1", "--network", fx.netA); err != nil {
		t.Fatal(err)
	}
	if err := fx.waitRunning(svc, 1, changeTimeout); err != nil {
		t.Fatal(err)
	}
	name := "tasks." + svc
	ask := []struct {
		r    *resolver
		name string
	}{{in.resolver(), name + "." + zone}, {dockerResolver(t), name}, {knotResolver(t, knot), name + "." + zone}}

	// measureScale runs apply and polls until the Engine API and the three
	// resolvers have given replicas tasks for xfrSettled.
	measureScale := func(change string, replicas int, apply func() error) scaleUpTimes {
		t.Helper()
		var engine timeline
		tls := make([]timeline, len(ask))
		start := time.Now()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, a := range ask {
			wg.Go(func() {
				tick := time.NewTicker(xfrPoll)
				defer tick.Stop()
				for {
					at := time.Since(start)
					// A poll without a reply in time (a busy machine) is
					// no answer, right or wrong: it is not counted.
					if rep := a.r.query(a.name, dns.TypeA, xfrPoll); rep.ok {
						tls[i].add(at, rep.set())
					}
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
		for deadline := start.Add(changeTimeout); ; {
			time.Sleep(100 * time.Millisecond)
			addrs, err := fx.addrsOn(ctx, svc, fx.netAID)
			if err != nil {
				t.Fatalf("%s: engine: %v", change, err)
			}
			now, want := time.Since(start), strings.Join(addrs, ",")
			engine.add(now, want)
			done := len(addrs) == replicas && engine.stableFor(now, xfrSettled, want)
			for i := range tls {
				done = done && tls[i].stableFor(now, xfrSettled, want)
			}
			if done {
				r := scaleUpTimes{change: change}
				r.engine, _ = engine.rightSince(want)
				r.ours, _ = tls[0].rightSince(want)
				r.docker, _ = tls[1].rightSince(want)
				r.knot, _ = tls[2].rightSince(want)
				if testing.Verbose() {
					t.Logf("%s: engine %s", change, engine.transitions())
					for i, a := range ask {
						t.Logf("%s: %s %s", change, a.r.name, tls[i].transitions())
					}
				}
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no agreement after %s: engine %q; swarmdns %q, docker %q, knot %q\n%s", change, changeTimeout,
					want, lastSet(&tls[0]), lastSet(&tls[1]), lastSet(&tls[2]), tail(knot.Log(), 20))
			}
		}
	}
	// Every resolver knows the one task before the first change.
	measureScale("settle", 1, func() error { return nil })
	var runs []scaleUpTimes
	for replicas := 2; replicas <= 4; replicas++ {
		logFrom := len(knot.Log())
		before, err := knot.Serial(zone)
		if err != nil {
			t.Fatal(err)
		}
		r := measureScale(fmt.Sprintf("scale up %d→%d", replicas-1, replicas), replicas, func() error {
			_, err := docker("service", "scale", "-d", fmt.Sprintf("%s=%d", svc, replicas))
			return err
		})
		runs = append(runs, r)
		after, err := knot.Serial(zone)
		if err != nil {
			t.Fatal(err)
		}
		if err := knotTookIXFRAfterNotify(knot.Log()[logFrom:], primary, before, after); err != nil {
			t.Errorf("%s: %v; Knot's log since the change:\n%s", r.change, err, knot.Log()[logFrom:])
		}
		if late := r.knot - r.ours; late > knotBound {
			t.Errorf("%s: Knot answered the new task %s after swarmdns, want within %s", r.change, late, knotBound)
		}
	}
	table := scaleUpTable(runs)
	t.Log(table)
	if out := os.Getenv("SWARMDNS_E2E_TRANSFER"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// knotTookIXFRAfterNotify checks Knot's log of one change: a NOTIFY of a
// serial other than before came in, then Knot transferred from the
// primary by IXFR, no AXFR, and updated the zone to after.
func knotTookIXFRAfterNotify(log string, primary netip.AddrPort, before, after uint32) error {
	z := `\[` + regexp.QuoteMeta(zone) + `\] `
	from := regexp.QuoteMeta(fmt.Sprintf("remote %s@%d", primary.Addr(), primary.Port()))
	notify := regexp.MustCompile(z + `notify, incoming, remote \S+, serial (\d+)`)
	ixfr := regexp.MustCompile(z + `IXFR, incoming, ` + from + `, finished`)
	axfr := regexp.MustCompile(`AXFR, incoming`)
	updated := regexp.MustCompile(z + `refresh, ` + from + `, zone updated, .*serial \d+ -> ` + strconv.FormatUint(uint64(after), 10) + `\b`)
	seenNotify, seenIXFR := false, false
	for _, line := range strings.Split(log, "\n") {
		switch {
		case notify.MatchString(line):
			seenNotify = seenNotify || notify.FindStringSubmatch(line)[1] != strconv.FormatUint(uint64(before), 10)
		case axfr.MatchString(line):
			return fmt.Errorf("Knot took the change by AXFR")
		case ixfr.MatchString(line) && seenNotify:
			seenIXFR = true
		case updated.MatchString(line) && seenIXFR:
			return nil
		}
	}
	return fmt.Errorf("no NOTIFY of a new serial, then IXFR from %s, then the zone at serial %d (NOTIFY seen: %v, IXFR after it: %v)", primary, after, seenNotify, seenIXFR)
}

// scaleUpTable is the runs as a markdown table, in milliseconds from the
// docker command.
func scaleUpTable(runs []scaleUpTimes) string {
	var b strings.Builder
	b.WriteString("\nmilliseconds from `docker service scale` until the answer is the final task set for good, asked every 50 ms\n\n")
	b.WriteString("| change | Engine API running | swarmdns | Docker 127.0.0.11 | Knot (NOTIFY + IXFR) | Knot after swarmdns |\n|---|---|---|---|---|---|\n")
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	for _, r := range runs {
		late := ms(r.knot - r.ours)
		if r.knot-r.ours < xfrPoll {
			late = "< " + ms(xfrPoll) // the same poll
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.change, ms(r.engine), ms(r.ours), ms(r.docker), ms(r.knot), late)
	}
	return b.String()
}

// soaSerial asks addr for the SOA of the zone.
func soaSerial(addr string) (uint32, error) {
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg).SetQuestion(zone, dns.TypeSOA)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return 0, err
	}
	if len(r.Answer) == 0 {
		return 0, fmt.Errorf("SOA of %s from %s: %s, no answer", zone, addr, dns.RcodeToString[r.Rcode])
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, fmt.Errorf("SOA of %s from %s: got %s", zone, addr, r.Answer[0])
	}
	return soa.Serial, nil
}

// dockerResolver is Docker's embedded DNS inside the task container of
// the suite's client service on appnet.
func dockerResolver(t *testing.T) *resolver {
	t.Helper()
	r, err := dialResolver("docker", fx.clientPID["a"], "127.0.0.11:53")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// knotResolver asks the Knot secondary from the host.
func knotResolver(t *testing.T, s *secondary.Secondary) *resolver {
	t.Helper()
	r, err := dialResolver("knot", 0, s.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

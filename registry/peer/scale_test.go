//go:build scale

package peer

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// The scale harness (make scale, make scale-short; docs/benchmarks.md):
// one manager instance in this process — a registry.Store with a
// benchmark registry (the large one unless a row names another) and the
// peer Server observing it — and N followers in a second process
// (scale_followers_test.go), so that getrusage of this one is the
// manager's CPU alone. Everything goes over loopback TCP with the real
// protocol and Swarm-like mutual TLS, on the default keepalives.

var (
	scalePlan = flag.String("scale", "short", "short: the CI check (200 followers); full: make scale (1,000 on each registry size, 10,000)")
	scaleOut  = flag.String("scale.out", "", "write the figures as a markdown table to this file")
	scalePer  = flag.Int("scale.keepalivefollowers", 0, "the manager's ServerConfig.KeepaliveFollowers (0: the default; -1: the base interval for any number)")
	scaleProf = flag.String("scale.idleprofile", "", "write the manager's CPU profile at rest of each row to this prefix + the row's name")
	scaleOnly = flag.String("scale.only", "", "run only these rows of the plan, comma-separated as in the table (\"1000 proto large\"); the slow followers as \"slow\"")
)

func init() {
	helperRoles = append(helperRoles, func() (int, bool) {
		if os.Getenv(scaleRoleEnv) != "followers" {
			return 0, false
		}
		return runFollowerProcess(), true
	})
}

// fanout is one measured fan-out: N followers of one kind, a one-task
// change at a time.
type fanout struct {
	kind   string // "store" or "proto"
	n      int
	rounds int
	// size is the manager's registry (zero: the large one); a manager
	// instance of its own serves each.
	size benchdata.Size
	// assert holds the targets, scaled to n (false: report only).
	assert bool
}

func (fo fanout) registry() benchdata.Size {
	if fo.size.Name == "" {
		return benchdata.Large
	}
	return fo.size
}

func (fo fanout) name() string { return fmt.Sprintf("%d %s %s", fo.n, fo.kind, fo.registry().Name) }

// slowScenario publishes big changes to normal followers and a few slow
// ones.
type slowScenario struct {
	normal, stall, pause, pauseMS int
	// changes, each restarting every task of that many services
	changes, services int
}

type scalePlanSpec struct {
	// stallTimeout and history configure the manager instance: a
	// history of 2 changes lets a follower paused for less than the
	// stall timeout fall out of it.
	stallTimeout time.Duration
	history      int
	// idle is the least time the manager's CPU at rest is read for.
	idle    time.Duration
	fanouts []fanout
	slow    slowScenario
}

var scalePlans = map[string]scalePlanSpec{
	"short": {
		stallTimeout: DefaultStallTimeout, history: 2, idle: 3 * time.Second,
		fanouts: []fanout{
			{kind: "store", n: 2, rounds: 3, assert: true},
			{kind: "proto", n: 200, rounds: 4, assert: true},
		},
		slow: slowScenario{normal: 10, stall: 2, pause: 2, pauseMS: 6000, changes: 20, services: 1000},
	},
	"full": {
		stallTimeout: DefaultStallTimeout, history: 2, idle: 10 * time.Second,
		fanouts: []fanout{
			{kind: "store", n: 8, rounds: 5},
			{kind: "proto", n: 200, rounds: 10, assert: true},
			{kind: "proto", n: 1000, rounds: 10, size: benchdata.Small, assert: true},
			{kind: "proto", n: 1000, rounds: 10, size: benchdata.Wide, assert: true},
			{kind: "proto", n: 1000, rounds: 10, assert: true},
			{kind: "proto", n: 1000, rounds: 10, size: benchdata.Large2x, assert: true},
			{kind: "proto", n: 10000, rounds: 5},
		},
		slow: slowScenario{normal: 50, stall: 4, pause: 4, pauseMS: 6000, changes: 40, services: 1000},
	},
}

// The targets at 1,000 followers.
const (
	targetLatency  = time.Second
	targetWire     = 2048
	targetCPU1000  = 500 * time.Millisecond
	targetAtN      = 1000
	slowHeapMargin = 32 << 20
)

// scaleManager is the manager instance under test.
type scaleManager struct {
	t       *testing.T
	size    benchdata.Size
	stop    func() // ends it, once
	srv     *Server
	store   *registry.Store
	addr    string
	certDir string
	warns   *warnCounter
	data    *registry.Data
	gen     int

	// what the last publish recorded, before the peer server saw it
	pubCPU   time.Duration
	pubBuild time.Duration
	pubAt    time.Time
}

func TestScale(t *testing.T) {
	plan, ok := scalePlans[*scalePlan]
	if !ok {
		t.Fatalf("-scale=%q: want short or full", *scalePlan)
	}
	if err := raiseFileLimit(1 << 20); err != nil {
		t.Fatal(err)
	}
	only := map[string]bool{}
	for _, name := range strings.Split(*scaleOnly, ",") {
		if name = strings.TrimSpace(name); name != "" {
			only[name] = true
		}
	}
	// One manager instance at a time, for the registry of the row.
	var m *scaleManager
	manager := func(size benchdata.Size) *scaleManager {
		if m == nil || m.size != size {
			if m != nil {
				m.stop()
			}
			m = startScaleManager(t, plan.stallTimeout, plan.history, size)
		}
		return m
	}
	var rows []fanoutRow
	for _, fo := range plan.fanouts {
		if len(only) > 0 && !only[fo.name()] {
			continue
		}
		row := manager(fo.registry()).fanout(fo, plan.idle)
		rows = append(rows, row)
		t.Logf("%s", row)
		if fo.assert {
			row.check(t)
		}
	}
	var sr *slowRow
	if len(only) == 0 || only["slow"] {
		r := manager(benchdata.Large).slow(plan.slow)
		t.Logf("%s", r)
		r.check(t, plan.slow)
		sr = &r
	}
	table := scaleTable(rows, sr)
	t.Logf("\n%s", table)
	if *scaleOut != "" {
		if err := os.WriteFile(*scaleOut, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func startScaleManager(t *testing.T, stall time.Duration, history int, size benchdata.Size) *scaleManager {
	sw := newSwarm(t)
	mcreds, _ := sw.node(swarmpki.RoleManager, "mgr1")
	_, wdir := sw.node(swarmpki.RoleWorker, "w1")
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.WarnLevel)
	warns := &warnCounter{seen: map[string]int{}}
	l.AddHook(warns)
	srv, err := NewServer(ServerConfig{Credentials: mcreds, Log: logrus.NewEntry(l), StallTimeout: stall, History: history,
		KeepaliveFollowers: *scalePer})
	if err != nil {
		t.Fatal(err)
	}
	st, err := registry.NewStore(registry.Config{Domain: benchdata.Domain}, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	m := &scaleManager{t: t, size: size, srv: srv, store: st, certDir: wdir, warns: warns, data: scaleRegistry(t, size)}
	st.Observe(registry.ObserverFuncs{OnPublished: func(_ *registry.Snapshot, build time.Duration) {
		m.pubCPU, m.pubBuild, m.pubAt = benchdata.CPUTime(), build, time.Now()
	}})
	st.Observe(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(m.stop)
	st.Update(m.data)
	m.waitHead(1)
	return m
}

// scaleRegistry is a benchmark registry in ID order, as the Swarm source
// hands it over.
func scaleRegistry(t *testing.T, size benchdata.Size) *registry.Data {
	d := benchdata.Data(size)
	c, err := clusterOf(d)
	if err != nil {
		t.Fatal(err)
	}
	d.Services, d.Tasks, d.Networks, d.Nodes = c.services, c.tasks, c.networks, c.nodes
	return d
}

// restart publishes the registry with the tasks at idx restarted: each a
// new task (a new ID, in the same place of the ID order: benchdata's IDs
// have no "g").
func (m *scaleManager) restart(idx ...int) {
	m.gen++
	d := *m.data
	d.Tasks = slices.Clone(m.data.Tasks)
	for _, i := range idx {
		base, _, _ := strings.Cut(d.Tasks[i].ID, "g")
		d.Tasks[i].ID = base + "g" + strconv.Itoa(m.gen)
	}
	m.data = &d
	m.store.Update(&d)
}

func (m *scaleManager) head() uint64 { return m.srv.Status().Head }

func (m *scaleManager) waitHead(c uint64) {
	deadline := time.Now().Add(10 * time.Second)
	for m.head() < c {
		if time.Now().After(deadline) {
			m.t.Fatalf("manager did not publish version %d (head %d)", c, m.head())
		}
		time.Sleep(time.Millisecond)
	}
}

// followerProc is the followers' process, as the manager drives it.
type followerProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *json.Decoder
	spec  followerSpec
	usage time.Duration // its CPU, once ended
}

func (m *scaleManager) startFollowers(spec followerSpec) *followerProc {
	m.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), scaleRoleEnv+"=followers", scaleAddrEnv+"="+m.addr,
		scaleCertEnv+"="+m.certDir, scaleSpecEnv+"="+spec.String())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		m.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		m.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	p := &followerProc{t: m.t, cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReader(out)), spec: spec}
	m.t.Cleanup(p.stop)
	return p
}

func (p *followerProc) ask(cmd string, reply any) {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		p.t.Fatalf("followers' process: %s: %v", cmd, err)
	}
	if err := p.out.Decode(reply); err != nil {
		p.t.Fatalf("followers' process: %s: %v", cmd, err)
	}
}

func (p *followerProc) arm(c uint64) {
	var s string
	p.ask("arm "+strconv.FormatUint(c, 10), &s)
}

func (p *followerProc) wait(which string, timeout time.Duration) currentReply {
	var r currentReply
	p.ask("wait "+which+" "+timeout.String(), &r)
	return r
}

func (p *followerProc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.in.Close()
	if err := p.cmd.Wait(); err != nil {
		p.t.Errorf("followers' process: %v", err)
	}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		p.usage = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
}

// waitGone waits until no follower is connected any more.
func (m *scaleManager) waitGone() {
	deadline := time.Now().Add(30 * time.Second)
	for len(m.srv.Status().Followers) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// fanoutRow is what one fan-out measured.
type fanoutRow struct {
	fanout
	connect                 time.Duration // until all held the whole data
	p50, p99, max           time.Duration // change published by the manager → follower holds it
	build                   time.Duration // the manager's own snapshot build, before that
	endToEnd                time.Duration // the last: the change given to the manager's Store → follower holds it
	wire                    float64       // bytes read per follower per change
	cpu, cpuMax             time.Duration // manager CPU per change, publish → all current
	idle                    float64       // manager CPU at rest (cores), keepalives both ways, over 3 intervals or more
	heap, rss               uint64        // manager's, with the followers connected
	followerCPU             time.Duration // the followers' process, whole run
	late                    int           // followers not current within the wait
	errors                  []string
	reconnects              int64  // streams dropped and begun again, connecting included
	pace                    pacing // the keepalives' pacing told the followers
	digestOK                bool
	protoDigest, wantDigest string
}

func (m *scaleManager) fanout(fo fanout, idle time.Duration) fanoutRow {
	t := m.t
	var spec followerSpec
	if fo.kind == "store" {
		spec.Store = fo.n
	} else {
		spec.Proto = fo.n
	}
	row := fanoutRow{fanout: fo}
	start := time.Now()
	p := m.startFollowers(spec)
	p.arm(m.head())
	if r := p.wait("normal", 10*time.Minute); late(r) > 0 {
		t.Fatalf("%d of %d %s followers did not get the whole data: %v", late(r), fo.n, fo.kind, r.Errors)
	}
	row.connect = time.Since(start)

	row.pace = m.srv.pacing(&follower{paced: true})
	stopProfile := func() {}
	if *scaleProf != "" {
		stopProfile = profileCPU(t, *scaleProf+strings.ReplaceAll(fo.name(), " ", "-")+".prof")
	}
	c0, w0 := benchdata.CPUTime(), time.Now()
	time.Sleep(max(idle, 3*row.pace.interval))
	row.idle = (benchdata.CPUTime() - c0).Seconds() / time.Since(w0).Seconds()
	stopProfile()

	var lat []time.Duration
	var bytes int64
	for r := range fo.rounds {
		next := m.head() + 1
		p.arm(next)
		t0 := time.Now()
		m.restart((r*7919 + 4111) % len(m.data.Tasks))
		build, pub, pubAt := m.pubBuild, m.pubCPU, m.pubAt
		reply := p.wait("normal", 30*time.Second)
		cpu := benchdata.CPUTime() - pub
		row.cpu += cpu
		row.cpuMax = max(row.cpuMax, cpu)
		row.build += build
		row.late += late(reply)
		row.errors = append(row.errors, reply.Errors...)
		row.reconnects = reply.Reconnects
		bytes += reply.Bytes
		for _, at := range reply.Reached {
			if at != 0 {
				lat = append(lat, time.Unix(0, at).Sub(pubAt))
				row.endToEnd = max(row.endToEnd, time.Unix(0, at).Sub(t0))
			}
		}
		if m.head() != next {
			t.Fatalf("a one-task change made %d versions", m.head()-next+1)
		}
		time.Sleep(200 * time.Millisecond)
	}
	row.cpu /= time.Duration(fo.rounds)
	row.build /= time.Duration(fo.rounds)
	row.wire = float64(bytes) / float64(fo.n*fo.rounds)
	slices.Sort(lat)
	if len(lat) > 0 {
		row.p50, row.p99, row.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	row.heap, row.rss = managerMemory()

	var dig checkedReply
	p.ask("check", &dig)
	c, _ := clusterOf(m.data)
	row.wantDigest = clusterDigest(&c)
	got := dig.Proto
	if fo.kind == "store" {
		got = dig.Store
	}
	row.protoDigest, row.digestOK = got, got == row.wantDigest
	p.stop()
	row.followerCPU = p.usage
	m.waitGone()
	return row
}

// profileCPU profiles this process's CPU into file until stop.
func profileCPU(t *testing.T, file string) (stop func()) {
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func late(r currentReply) int {
	n := 0
	for _, at := range r.Reached {
		if at == 0 {
			n++
		}
	}
	return n
}

// managerMemory is this process's heap in use after a collection, and its
// resident set.
func managerMemory() (heap, rss uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, procStatus("VmRSS")
}

// procStatus reads a size field (kB) of /proc/self/status, in bytes.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (r fanoutRow) String() string {
	return fmt.Sprintf("%s followers (keepalive %s, timeout %s): connected in %s; from publish p50 %s p99 %s max %s (before it, manager build %s; end to end max %s); %.0f B/follower; manager CPU %s/change (max %s), idle %.1f%% of a core; heap %d MiB, RSS %d MiB; followers' CPU %s; late %d; reconnects %d; errors %v; data %s (manager %s)",
		r.name(), r.pace.interval, r.pace.timeout, r.connect.Round(time.Millisecond), ms(r.p50), ms(r.p99), ms(r.max), ms(r.build), ms(r.endToEnd), r.wire,
		ms(r.cpu), ms(r.cpuMax), r.idle*100, r.heap>>20, r.rss>>20, r.followerCPU.Round(time.Millisecond), r.late, r.reconnects, r.errors,
		r.protoDigest, r.wantDigest)
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// check holds the row to the targets, the CPU one scaled to n.
func (r fanoutRow) check(t *testing.T) {
	t.Helper()
	if r.late > 0 || len(r.errors) > 0 || r.reconnects > 0 {
		t.Errorf("%d %s followers: %d late, %d reconnects, errors %v", r.n, r.kind, r.late, r.reconnects, r.errors)
	}
	if !r.digestOK {
		t.Errorf("%d %s followers: a follower's data %s, the manager's %s", r.n, r.kind, r.protoDigest, r.wantDigest)
	}
	// The fan-out's time runs from the manager's publish: its own build
	// before it is the same for any number of followers. A store
	// follower's own build of the large registry is its own cost, not the
	// fan-out's: it is reported, not held to the target.
	if r.kind == "proto" && r.max > targetLatency {
		t.Errorf("%d %s followers: the last was current %s after the manager published, want ≤ %s", r.n, r.kind, r.max, targetLatency)
	}
	if r.wire > targetWire {
		t.Errorf("%d %s followers: %.0f bytes per follower per change, want ≤ %d", r.n, r.kind, r.wire, targetWire)
	}
	// A store follower costs the manager what a protocol one does; few of
	// them leave the change's diff alone, which no target scales.
	if want := targetCPU1000 * time.Duration(r.n) / targetAtN; r.kind == "proto" && r.cpu > want {
		t.Errorf("%d %s followers: manager CPU %s per change, want ≤ %s", r.n, r.kind, r.cpu, want)
	}
}

// slowRow is what the slow-follower scenario measured.
type slowRow struct {
	published        int64 // bytes of changes published meanwhile
	publishing       time.Duration
	heapBefore       uint64
	heapMax          uint64
	heapAfter        uint64
	normalMax        time.Duration
	late             int
	errors           []string
	reconnects       int64
	drained          drainedReply
	resets, dropped  uint64
	tooSlowLogged    int
	historyBytesHeld int
}

func (m *scaleManager) slow(sc slowScenario) slowRow {
	t := m.t
	p := m.startFollowers(followerSpec{Proto: sc.normal, Stall: sc.stall, Pause: sc.pause, PauseMS: sc.pauseMS})
	p.arm(m.head())
	if r := p.wait("all", 5*time.Minute); late(r) > 0 {
		t.Fatalf("%d followers did not get the whole data: %v", late(r), r.Errors)
	}
	st0 := m.srv.Status()
	var row slowRow
	row.heapBefore, _ = managerMemory()

	var heapMax atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// runtime/metrics reads without stopping the world.
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > heapMax.Load() {
				heapMax.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	final := m.head() + uint64(sc.changes)
	p.arm(final)
	t0 := time.Now()
	for g := range sc.changes {
		var idx []int
		first := (g * sc.services % benchdata.Large.Services) * benchdata.Large.Tasks
		for i := first; i < min(first+sc.services*benchdata.Large.Tasks, len(m.data.Tasks)); i++ {
			idx = append(idx, i)
		}
		m.restart(idx...)
		m.waitHead(final - uint64(sc.changes-g-1))
		row.published += int64(m.lastChangeBytes())
	}
	row.publishing = time.Since(t0)
	r := p.wait("normal", time.Minute)
	row.late, row.errors, row.reconnects = late(r), r.Errors, r.Reconnects
	for _, at := range r.Reached {
		row.normalMax = max(row.normalMax, time.Unix(0, at).Sub(t0))
	}
	// Stalled followers are dropped once a send has waited StallTimeout.
	deadline := time.Now().Add(m.srv.cfg.StallTimeout + 10*time.Second)
	for m.srv.Status().Dropped-st0.Dropped < uint64(sc.stall) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	p.ask("drain", &row.drained)
	close(stop)
	wg.Wait()
	row.heapMax = heapMax.Load()
	row.heapAfter, _ = managerMemory()
	row.historyBytesHeld = m.historyBytes()
	st := m.srv.Status()
	row.resets, row.dropped = st.Resets-st0.Resets, st.Dropped-st0.Dropped
	row.tooSlowLogged = m.warns.count("follower dropped: follower too slow")
	p.stop()
	m.waitGone()
	return row
}

func (m *scaleManager) historyBytes() int {
	m.srv.hub.mu.Lock()
	defer m.srv.hub.mu.Unlock()
	return m.srv.hub.histBytes
}

func (m *scaleManager) lastChangeBytes() int {
	m.srv.hub.mu.Lock()
	defer m.srv.hub.mu.Unlock()
	return len(m.srv.hub.history[len(m.srv.hub.history)-1])
}

func (r slowRow) String() string {
	return fmt.Sprintf("slow followers: %d MiB of changes published in %s; normal followers current after %s (late %d, reconnects %d, errors %v); stalled ones ended %v; pausing ones sent the whole data again %v times, current %v, ended %v; manager resets %d, drops %d (logged %d); heap %d MiB before, %d MiB at most, %d MiB after (history holds %d MiB)",
		r.published>>20, ms(r.publishing), ms(r.normalMax), r.late, r.reconnects, r.errors, r.drained.Dropped, r.drained.Resets, r.drained.Current, r.drained.PauseEnded,
		r.resets, r.dropped, r.tooSlowLogged, r.heapBefore>>20, r.heapMax>>20, r.heapAfter>>20, r.historyBytesHeld>>20)
}

// check: normal followers kept up, stalled ones were dropped and told why,
// pausing ones were sent the whole data again and caught up, and the
// manager's heap after a collection grew by no more than its history.
func (r slowRow) check(t *testing.T, sc slowScenario) {
	t.Helper()
	if r.late > 0 || len(r.errors) > 0 || r.reconnects > 0 {
		t.Errorf("normal followers beside slow ones: %d late, %d reconnects, errors %v", r.late, r.reconnects, r.errors)
	}
	if r.dropped < uint64(sc.stall) || r.tooSlowLogged != int(r.dropped) {
		t.Errorf("%d followers stalled: %d dropped, %d logged as too slow", sc.stall, r.dropped, r.tooSlowLogged)
	}
	for _, why := range r.drained.Dropped {
		if !strings.HasPrefix(why, "ResourceExhausted: follower too slow") {
			t.Errorf("a stalled follower's stream ended with %q, want ResourceExhausted: follower too slow", why)
		}
	}
	// A pausing follower falls out of the history: it is sent the whole
	// data when it reads again, or it is dropped as too slow, comes back
	// and is sent it then.
	for _, n := range r.drained.Resets {
		if n < 1 {
			t.Errorf("pausing followers were sent the whole data again %v times, want at least once each", r.drained.Resets)
			break
		}
	}
	for _, why := range r.drained.PauseEnded {
		if !strings.Contains(why, "ResourceExhausted: follower too slow") {
			t.Errorf("a pausing follower's stream ended with %q, want ResourceExhausted: follower too slow", why)
		}
	}
	if !r.drained.Current {
		t.Errorf("pausing followers do not hold the last version after they read again")
	}
	if grew := int64(r.heapAfter) - int64(r.heapBefore); grew > DefaultHistoryBytes+slowHeapMargin {
		t.Errorf("manager heap grew by %d MiB with slow followers, want ≤ history (%d MiB) + %d MiB", grew>>20, DefaultHistoryBytes>>20, slowHeapMargin>>20)
	}
}

func scaleTable(rows []fanoutRow, sr *slowRow) string {
	var b strings.Builder
	b.WriteString("| followers | registry | keepalive | connect | p50 | p99 | max | manager build | end to end max | wire B/follower | manager CPU/change | manager idle | manager heap | manager RSS | reconnects |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d %s | %s | %s/%s | %s | %s | %s | %s | %s | %s | %.0f | %s | %.1f%% | %d MiB | %d MiB | %d |\n",
			r.n, r.kind, r.registry().Name, r.pace.interval, r.pace.timeout, r.connect.Round(100*time.Millisecond), ms(r.p50), ms(r.p99), ms(r.max), ms(r.build), ms(r.endToEnd), r.wire,
			ms(r.cpu), r.idle*100, r.heap>>20, r.rss>>20, r.reconnects)
	}
	if sr != nil {
		fmt.Fprintf(&b, "\nSlow followers: %s\n", sr)
	}
	return b.String()
}

// warnCounter counts the manager's warnings by message.
type warnCounter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (w *warnCounter) Levels() []logrus.Level { return logrus.AllLevels }
func (w *warnCounter) Fire(e *logrus.Entry) error {
	w.mu.Lock()
	w.seen[e.Message]++
	w.mu.Unlock()
	return nil
}

func (w *warnCounter) count(prefix string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for msg, c := range w.seen {
		if strings.HasPrefix(msg, prefix) {
			n += c
		}
	}
	return n
}

// raiseFileLimit raises this process's open-file limit to n, or to its
// hard limit when it may not raise that.
func raiseFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	if lim.Cur >= n {
		return nil
	}
	want := lim
	want.Cur, want.Max = n, max(n, lim.Max)
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise open-file limit to %d: %w", lim.Cur, err)
	}
	return nil
}

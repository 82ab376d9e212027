package peer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// TestMain runs the manager instance or the follower of BenchmarkMemory
// when this binary is started as one (SWARMDNS_MEMORY_ROLE), else the
// tests.
func init() {
	helperRoles = append(helperRoles, func() (int, bool) {
		role := os.Getenv("SWARMDNS_MEMORY_ROLE")
		if role == "" {
			return 0, false
		}
		if err := memoryRole(role); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1, true
		}
		return 0, true
	})
}

// BenchmarkMemory runs a manager instance serving the large registry and
// one follower of it in two processes of their own (this binary, started
// again), and reports the resident set and the live heap of each once the
// follower has published the whole data and then a one-task change.
func BenchmarkMemory(b *testing.B) {
	sw := newSwarm(b)
	mcreds := sw.ca.WriteNode(b, b.TempDir(), clusterID, swarmpki.RoleManager, "mgr1")
	wcreds := sw.ca.WriteNode(b, b.TempDir(), clusterID, swarmpki.RoleWorker, "w1")
	for b.Loop() {
		mgr := startMemoryRole(b, "manager", mcreds, "")
		addr := strings.TrimPrefix(mgr.line(b, "listening "), "listening ")
		fol := startMemoryRole(b, "follower", wcreds, addr)
		fol.line(b, "synced")
		mgr.send(b, "change")
		fol.line(b, "synced")
		mgr.send(b, "report")
		fol.send(b, "report")
		m, f := mgr.report(b), fol.report(b)
		b.ReportMetric(m[0], "manager-RSS-MB")
		b.ReportMetric(f[0], "follower-RSS-MB")
		b.ReportMetric(m[1], "manager-heap-MB")
		b.ReportMetric(f[1], "follower-heap-MB")
	}
}

// memoryProcess is a process BenchmarkMemory started.
type memoryProcess struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startMemoryRole(b *testing.B, role string, creds swarmpki.Files, manager string) *memoryProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SWARMDNS_MEMORY_ROLE="+role, "SWARMDNS_MEMORY_MANAGER="+manager,
		"SWARMDNS_MEMORY_CERT="+creds.Cert, "SWARMDNS_MEMORY_KEY="+creds.Key, "SWARMDNS_MEMORY_CA="+creds.CA)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &memoryProcess{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		_ = in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}

// line waits for the next line that starts with prefix.
func (p *memoryProcess) line(b *testing.B, prefix string) string {
	b.Helper()
	for p.out.Scan() {
		if strings.HasPrefix(p.out.Text(), prefix) {
			return p.out.Text()
		}
	}
	b.Fatalf("%s ended before %q", p.cmd.Env[len(p.cmd.Env)-5], prefix)
	return ""
}

func (p *memoryProcess) send(b *testing.B, cmd string) {
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		b.Fatal(err)
	}
}

// report reads the RSS and live heap, in MB, that the process reported.
func (p *memoryProcess) report(b *testing.B) [2]float64 {
	f := strings.Fields(p.line(b, "report "))
	var r [2]float64
	for i := range r {
		v, err := strconv.ParseFloat(f[i+1], 64)
		if err != nil {
			b.Fatal(err)
		}
		r[i] = v
	}
	return r
}

// memoryRole is the manager instance's or the follower's process: it
// reads commands (change, report) from stdin.
func memoryRole(role string) error {
	creds, err := swarmpki.Load(swarmpki.Files{Cert: os.Getenv("SWARMDNS_MEMORY_CERT"), Key: os.Getenv("SWARMDNS_MEMORY_KEY"), CA: os.Getenv("SWARMDNS_MEMORY_CA")})
	if err != nil {
		return err
	}
	log, _ := quietLog()
	store, err := registry.NewStore(registry.Config{Domain: benchdata.Domain, TTL: 5}, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := bufio.NewScanner(os.Stdin)
	var change func()
	if role == "manager" {
		d0 := benchdata.Data(benchdata.Large)
		c, err := clusterOf(d0)
		if err != nil {
			return err
		}
		d0.Services, d0.Tasks, d0.Networks, d0.Nodes = c.services, c.tasks, c.networks, c.nodes
		srv, err := NewServer(ServerConfig{Credentials: creds, Log: log})
		if err != nil {
			return err
		}
		store.Observe(srv)
		store.Update(d0)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go func() { _ = srv.Serve(ctx, ln) }()
		fmt.Println("listening", ln.Addr())
		change = func() {
			k := len(d0.Tasks) / 2
			moved := d0.Tasks[k]
			moved.Addresses = []registry.NetworkAddrs{{Network: benchdata.NetworkID, Addrs: []netip.Addr{netip.MustParseAddr("10.250.0.1")}}}
			store.Update(withTask(d0, k, moved))
		}
	} else {
		f, err := NewFollower(FollowerConfig{Managers: []string{os.Getenv("SWARMDNS_MEMORY_MANAGER")}, Credentials: creds, Log: log, DialTimeout: 5 * time.Second})
		if err != nil {
			return err
		}
		go func() { _ = f.Run(ctx, &memorySink{store}) }()
	}
	for in.Scan() {
		switch in.Text() {
		case "change":
			change()
		case "report":
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("report %.1f %.1f\n", rssMB(), float64(ms.HeapAlloc)/1e6)
		}
	}
	return nil
}

// memorySink says "synced" once each Data is published.
type memorySink struct{ *registry.Store }

func (s *memorySink) Update(d *registry.Data) {
	s.Store.Update(d)
	fmt.Println("synced")
}

// rssMB is the process's resident set, in MB, from /proc.
func rssMB() float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1e3
		}
	}
	return 0
}

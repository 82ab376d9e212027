//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/internal/freeport"
)

// image is the busybox image scripts/swarm-up.sh builds.
const image = "swarmdns-test/busybox:latest"

// sleeper runs until SIGTERM and exits at once on it, as a well-behaved
// service does; a bare sleep as PID 1 ignores SIGTERM and every stop would
// wait out the grace period.
var sleeper = []string{"sh", "-c", `trap "exit 0" TERM; sleep 1000000 & wait`}

// fx is the Swarm the suite set up in TestMain.
var fx *fixture

// fixture is what TestMain created on the real Swarm, and the swarmdns
// instances serving it.
type fixture struct {
	prefix string
	api    *client.Client
	logDir string

	netA, netB     string // names of the two attachable overlays
	netAID, netBID string

	web, rr, aliased, glob, lbl string // services
	shop, store                 string // aliases of aliased on netA, netB

	// Client containers by the networks they are on: "a", "b", "ab".
	clientPID map[string]int

	hostDNS string // swarmdns for host clients: 127.0.0.1:port
	gwDNS   string // swarmdns on the docker_gwbridge gateway, for containers
	procs   []*exec.Cmd
}

func TestMain(m *testing.M) {
	f, err := setup()
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
	} else {
		fx = f
		code = m.Run()
	}
	if f != nil {
		f.teardown()
	}
	os.Exit(code)
}

// dockerCLI is Debian's docker client, which matches the daemon
// swarm-up.sh installs, else the one on PATH.
func dockerCLI() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return "docker"
}

// docker runs the real docker CLI and returns its trimmed output.
func docker(args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(dockerCLI(), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func mustDocker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := docker(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// createService runs `docker service create` with the suite's label and
// the sleeper command.
func createService(name string, args ...string) error {
	argv := []string{"service", "create", "-d", "--no-resolve-image", "--label", "swarmdns-test=1",
		"--name", name, "--stop-grace-period", "2s", "--restart-delay", "0s"}
	argv = append(argv, args...)
	argv = append(argv, image)
	argv = append(argv, sleeper...)
	_, err := docker(argv...)
	return err
}

func setup() (*fixture, error) {
	b := make([]byte, 3)
	rand.Read(b)
	p := "e" + hex.EncodeToString(b) + "-"
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp("", "swarmdns-e2e-logs-")
	if err != nil {
		return nil, err
	}
	f := &fixture{
		prefix: p, api: api, logDir: logDir,
		netA: p + "appnet", netB: p + "backnet",
		web: p + "web", rr: p + "rr", aliased: p + "aliased", glob: p + "glob", lbl: p + "lbl",
		shop: p + "shop", store: p + "store",
		clientPID: map[string]int{},
	}
	if err := f.create(); err != nil {
		return f, err
	}
	return f, f.start()
}

func (f *fixture) create() error {
	for _, n := range []string{f.netA, f.netB} {
		if _, err := docker("network", "create", "-d", "overlay", "--attachable", "--label", "swarmdns-test=1", n); err != nil {
			return err
		}
	}
	var err error
	if f.netAID, err = docker("network", "inspect", "-f", "{{.Id}}", f.netA); err != nil {
		return err
	}
	if f.netBID, err = docker("network", "inspect", "-f", "{{.Id}}", f.netB); err != nil {
		return err
	}
	services := [][]string{
		// backnet first: Docker orders a container's networks by name, not by the spec.
		{f.web, "--replicas", "3", "--network", f.netB, "--network", f.netA},
		{f.rr, "--replicas", "2", "--endpoint-mode", "dnsrr", "--network", f.netA},
		{f.aliased, "--replicas", "1", "--network", "name=" + f.netA + ",alias=" + f.shop, "--network", "name=" + f.netB + ",alias=" + f.store},
		{f.glob, "--mode", "global", "--network", f.netB},
		{f.lbl, "--replicas", "2", "--network", f.netA,
			"--label", "swarmdns.resolve=tasks", "--label", "swarmdns.ttl=30",
			"--label", "swarmdns.weight=3", "--label", "swarmdns.ports=http:8080/tcp"},
		{f.prefix + "ca", "--replicas", "1", "--network", f.netA},
		{f.prefix + "cb", "--replicas", "1", "--network", f.netB},
		{f.prefix + "cab", "--replicas", "1", "--network", f.netA, "--network", f.netB},
	}
	for _, s := range services {
		if err := createService(s[0], s[1:]...); err != nil {
			return err
		}
	}
	want := map[string]int{f.web: 3, f.rr: 2, f.aliased: 1, f.glob: 1, f.lbl: 2,
		f.prefix + "ca": 1, f.prefix + "cb": 1, f.prefix + "cab": 1}
	for name, n := range want {
		if err := f.waitRunning(name, n, 60*time.Second); err != nil {
			return err
		}
	}
	for key, svc := range map[string]string{"a": "ca", "b": "cb", "ab": "cab"} {
		pid, err := f.taskPID(f.prefix + svc)
		if err != nil {
			return err
		}
		f.clientPID[key] = pid
	}
	return nil
}

// running returns the tasks of service that the manager reports running
// with desired state running.
func (f *fixture) running(ctx context.Context, service string) ([]swarm.Task, error) {
	tasks, err := f.api.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(
		filters.Arg("service", service), filters.Arg("desired-state", "running"))})
	if err != nil {
		return nil, err
	}
	var out []swarm.Task
	for _, t := range tasks {
		if t.Status.State == swarm.TaskStateRunning && t.ServiceID != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fixture) waitRunning(service string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ts, err := f.running(context.Background(), service)
		if err == nil && len(ts) == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s: %d tasks running after %s, want %d (%v)", service, len(ts), timeout, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// taskPID is the host PID of the container of service's one running task.
func (f *fixture) taskPID(service string) (int, error) {
	ts, err := f.running(context.Background(), service)
	if err != nil || len(ts) != 1 {
		return 0, fmt.Errorf("service %s: want one running task, have %d (%v)", service, len(ts), err)
	}
	c, err := f.api.ContainerInspect(context.Background(), ts[0].Status.ContainerStatus.ContainerID)
	if err != nil {
		return 0, err
	}
	return c.State.Pid, nil
}

// binary is the swarmdns binary `make e2e` built.
func binary() (string, error) {
	if b := os.Getenv("SWARMDNS_BIN"); b != "" {
		return b, nil
	}
	b, err := filepath.Abs("../bin/swarmdns")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(b); err != nil {
		return "", fmt.Errorf("%s: run `make build` first, or set SWARMDNS_BIN", b)
	}
	return b, nil
}

// gatewayAddr is the host's address on docker_gwbridge, which every task
// container and attachable-overlay container can reach.
func (f *fixture) gatewayAddr() (string, error) {
	n, err := f.api.NetworkInspect(context.Background(), "docker_gwbridge", network.InspectOptions{})
	if err != nil {
		return "", err
	}
	for _, c := range n.IPAM.Config {
		if a, err := netip.ParseAddr(c.Gateway); err == nil && a.Is4() {
			return a.String(), nil
		}
	}
	return "", fmt.Errorf("docker_gwbridge has no IPv4 gateway")
}

// start runs two `swarmdns serve` against the engine: one on loopback, one
// on the docker_gwbridge gateway. No upstream: names outside the registry
// are REFUSED, nothing leaves the machine.
func (f *fixture) start() error {
	bin, err := binary()
	if err != nil {
		return err
	}
	gw, err := f.gatewayAddr()
	if err != nil {
		return err
	}
	for i, host := range []string{"127.0.0.1", gw} {
		port, err := freeport.On(host)
		if err != nil {
			return err
		}
		addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
		logf, err := os.Create(filepath.Join(f.logDir, fmt.Sprintf("swarmdns-%d.log", i)))
		if err != nil {
			return err
		}
		// No operations listener: two instances would want the same port.
		cmd := exec.Command(bin, "serve", "--listen", addr, "--http-listen", "", "--resolv-conf", "/dev/null", "--log-level", "debug")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return err
		}
		f.procs = append(f.procs, cmd)
		if i == 0 {
			f.hostDNS = addr
		} else {
			f.gwDNS = addr
		}
	}
	// Ready when both answer every service's tasks.
	for _, addr := range []string{f.hostDNS, f.gwDNS} {
		r, err := dialResolver("swarmdns", 0, addr)
		if err != nil {
			return err
		}
		err = waitFor(30*time.Second, func() bool {
			return len(r.query("tasks."+f.web, dns.TypeA, time.Second).a) == 6 &&
				len(r.query("tasks."+f.glob, dns.TypeA, time.Second).a) == 1
		})
		r.Close()
		if err != nil {
			return fmt.Errorf("swarmdns on %s did not serve the services: %w", addr, err)
		}
	}
	// Docker's resolver learns names through the network database; wait
	// until it knows the last service created.
	r, err := dialResolver("docker", f.clientPID["ab"], "127.0.0.11:53")
	if err != nil {
		return err
	}
	defer r.Close()
	return waitFor(30*time.Second, func() bool {
		return len(r.query("tasks."+f.web, dns.TypeA, time.Second).a) == 3 &&
			len(r.query("tasks."+f.prefix+"cab", dns.TypeA, time.Second).a) == 1
	})
}

func waitFor(timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// teardown stops swarmdns and removes every service and network the suite
// created, waiting for the networks to be free.
func (f *fixture) teardown() {
	for _, p := range f.procs {
		p.Process.Signal(os.Interrupt)
		p.Wait()
	}
	out, _ := docker("service", "ls", "-q", "--filter", "name="+f.prefix)
	if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := docker(append([]string{"service", "rm"}, ids...)...); err != nil {
			fmt.Fprintln(os.Stderr, "e2e teardown:", err)
		}
	}
	for range 60 {
		out, _ := docker("network", "ls", "-q", "--filter", "name="+f.prefix)
		ids := strings.Fields(out)
		if len(ids) == 0 {
			break
		}
		docker(append([]string{"network", "rm"}, ids...)...)
		time.Sleep(500 * time.Millisecond)
	}
	if os.Getenv("SWARMDNS_E2E_KEEP_LOGS") == "" {
		os.RemoveAll(f.logDir)
	} else {
		fmt.Fprintln(os.Stderr, "e2e: swarmdns logs in", f.logDir)
	}
}

// Helpers over the Engine API for the tests.

// taskAddrs maps each running task of service to its address on each
// network (network ID → address).
func (f *fixture) taskAddrs(ctx context.Context, service string) (map[string]map[string]string, []swarm.Task, error) {
	ts, err := f.running(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]map[string]string{}
	for _, t := range ts {
		out[t.ID] = map[string]string{}
		for _, att := range t.NetworksAttachments {
			for _, cidr := range att.Addresses {
				if p, err := netip.ParsePrefix(cidr); err == nil {
					out[t.ID][att.Network.ID] = p.Addr().String()
				}
			}
		}
	}
	return out, ts, nil
}

// addrsOn returns the sorted addresses of service's running tasks on the
// network netID.
func (f *fixture) addrsOn(ctx context.Context, service, netID string) ([]string, error) {
	m, _, err := f.taskAddrs(ctx, service)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, nets := range m {
		if a, ok := nets[netID]; ok {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out, nil
}

// vip is service's VIP on netID.
func (f *fixture) vip(ctx context.Context, service, netID string) (string, error) {
	s, _, err := f.api.ServiceInspectWithRaw(ctx, service, swarm.ServiceInspectOptions{})
	if err != nil {
		return "", err
	}
	for _, v := range s.Endpoint.VirtualIPs {
		if v.NetworkID == netID {
			p, err := netip.ParsePrefix(v.Addr)
			if err != nil {
				return "", err
			}
			return p.Addr().String(), nil
		}
	}
	return "", fmt.Errorf("service %s has no VIP on %s", service, netID)
}

// containerIDs lists the running containers of service's tasks.
func (f *fixture) containerIDs(ctx context.Context, service string) ([]string, error) {
	cs, err := f.api.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "com.docker.swarm.service.name="+service))})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out, nil
}

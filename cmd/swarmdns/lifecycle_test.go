package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// binary builds swarmdns once for the tests that run the real process.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "swarmdns-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "swarmdns")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{string(out)}
	}
	return bin, nil
})

// noResolvConf is a resolv.conf without nameservers: nothing is forwarded.
func noResolvConf(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type buildError struct{ out string }

func (e *buildError) Error() string { return "go build: " + e.out }

// proc is a running swarmdns serve with JSON logs.
type proc struct {
	cmd        *exec.Cmd
	mu         sync.Mutex
	lines      []map[string]any
	dnsAddr    string // UDP
	dnsTCPAddr string
	httpAddr   string
	done       chan error
}

// startServe runs swarmdns serve with args and waits until it serves DNS,
// the HTTP listener and a published registry.
func startServe(t *testing.T, args ...string) *proc {
	t.Helper()
	p := launchServe(t, args...)
	p.waitLog(t, func(m map[string]any) bool {
		if m["msg"] == "serving operations HTTP" {
			p.httpAddr, _ = m["addr"].(string)
		}
		return p.httpAddr != ""
	})
	// DNS is served before the registry is first published (SERVFAIL until
	// then); the tests start from a published registry.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if code, _ := p.get(t, "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready within 5 s")
		}
	}
	return p
}

// launchServe runs swarmdns serve with args and waits until it serves DNS.
func launchServe(t *testing.T, args ...string) *proc {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json",
		"--registry-file", "../../examples/registry.yaml", "--resolv-conf", noResolvConf(t)}, args...)
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": sc.Text()}
			}
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	p.waitLog(t, func(m map[string]any) bool {
		if m["msg"] == "serving DNS" {
			p.dnsAddr, _ = m["udp"].(string)
			p.dnsTCPAddr, _ = m["tcp"].(string)
		}
		return p.dnsAddr != ""
	})
	return p
}

// waitLog waits up to 5 s for a log line that ok accepts.
func (p *proc) waitLog(t *testing.T, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, m := range p.lines {
			if ok(m) {
				p.mu.Unlock()
				return m
			}
		}
		p.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("log line not seen; got %v", p.lines)
	return nil
}

func (p *proc) query(t *testing.T, name string) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	resp, _, err := new(dns.Client).Exchange(q, p.dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (p *proc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + p.httpAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("still running after %s", within)
		return -1
	}
}

func TestProcessExitsZeroOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String()+" after serving exits 0 within 5 s", func(t *testing.T) {
			p := startServe(t)
			if resp := p.query(t, "web."); len(resp.Answer) != 1 {
				t.Fatalf("web: %v", resp)
			}
			if code, body := p.get(t, "/readyz"); code != 200 {
				t.Fatalf("readyz = %d %s", code, body)
			}
			p.cmd.Process.Signal(sig)
			if code := p.wait(t, 6*time.Second); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
		})
	}
}

func TestSIGHUPReloadsSettings(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "swarmdns.yaml")
	if err := os.WriteFile(cfg, []byte("log-queries: false\nttl: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "--config", cfg)
	p.query(t, "web.")
	if err := os.WriteFile(cfg, []byte("log-queries: true\nttl: 42\ndomain: other.test.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, func(m map[string]any) bool { return m["msg"] == "SIGHUP: settings reloaded" })
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"--log-queries switched on logs the next query", func(t *testing.T) {
			p.query(t, "tasks.web.")
			p.waitLog(t, func(m map[string]any) bool {
				return m["msg"] == "query" && m["name"] == "tasks.web." && m["rcode"] == "NOERROR"
			})
		}},
		{"--ttl applies to answers after the rebuild", func(t *testing.T) {
			if resp := p.query(t, "web."); len(resp.Answer) != 1 || resp.Answer[0].Header().Ttl != 42 {
				t.Errorf("answer %v, want TTL 42", resp.Answer)
			}
		}},
		{"a setting that needs a restart is named in a warning", func(t *testing.T) {
			p.waitLog(t, func(m map[string]any) bool { return m["setting"] == "domain" && m["level"] == "warning" })
		}},
		{"the process keeps serving", func(t *testing.T) {
			if code, _ := p.get(t, "/healthz"); code != 200 {
				t.Errorf("healthz = %d", code)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 6*time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestHTTPListenEmptyDisablesIt runs the real process with --http-listen ""
// until it has passed the point where the HTTP listener starts, and then
// counts the TCP sockets it listens on: DNS over TCP, and nothing else.
func TestHTTPListenEmptyDisablesIt(t *testing.T) {
	p := launchServe(t, "--http-listen", "")
	// One of these is logged once the HTTP listener would have started.
	if m := p.waitLog(t, func(m map[string]any) bool {
		return m["msg"] == "serving operations HTTP" || m["msg"] == "operations HTTP off: --http-listen is empty"
	}); m["msg"] == "serving operations HTTP" {
		t.Fatalf("HTTP listener started: %v", m)
	}
	if runtime.GOOS == "linux" {
		if got := tcpListeners(t, p.cmd.Process.Pid); !slices.Equal(got, []string{p.dnsTCPAddr}) {
			t.Fatalf("listening on TCP %v, want only DNS on %s", got, p.dnsTCPAddr)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); len(p.query(t, "web.").Answer) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("web. not answered within 5 s")
		}
	}
}

// tcpListeners returns the addresses (ip:port) of the TCP sockets process
// pid listens on, read from /proc.
func tcpListeners(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil {
			if inode, ok := strings.CutPrefix(l, "socket:["); ok {
				mine[strings.TrimSuffix(inode, "]")] = true
			}
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			const listen = "0A"
			if len(f) < 10 || f[3] != listen || !mine[f[9]] {
				continue
			}
			out = append(out, procAddr(t, f[1]))
		}
	}
	slices.Sort(out)
	return out
}

// procAddr turns a /proc/net/tcp address (hex IP in host byte order per
// 32-bit word, ":" hex port) into ip:port.
func procAddr(t *testing.T, s string) string {
	t.Helper()
	ipHex, portHex, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	port, perr := strconv.ParseUint(portHex, 16, 16)
	if err != nil || perr != nil || len(raw)%4 != 0 {
		t.Fatalf("bad /proc/net/tcp address %q", s)
	}
	for w := raw; len(w) >= 4; w = w[4:] {
		slices.Reverse(w[:4])
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
}

// TestNothingClaimsToServeBeforeTheRegistryLoads runs the real process:
// with a registry file that does not load it exits with the file's errors
// and never says it serves; with a good one the load comes first.
func TestNothingClaimsToServeBeforeTheRegistryLoads(t *testing.T) {
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a bad registry file exits 1 with its errors and never serves", func(t *testing.T) {
		reg := filepath.Join(t.TempDir(), "reg.yaml")
		if err := os.WriteFile(reg, []byte("services:\n  - name: web\n    endpoint_mode: anycast\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json",
			"--registry-file", reg, "--resolv-conf", noResolvConf(t))
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit %v, want 1; output:\n%s", err, out)
		}
		if !strings.Contains(string(out), `reg.yaml:3: services[0].endpoint_mode: service "web": "anycast" is not an endpoint mode`) {
			t.Errorf("the file's error is not printed:\n%s", out)
		}
		for _, claim := range []string{"serving DNS", "serving operations HTTP"} {
			if strings.Contains(string(out), claim) {
				t.Errorf("said %q before exiting:\n%s", claim, out)
			}
		}
	})
	t.Run("a good registry file is loaded before DNS is served", func(t *testing.T) {
		p := launchServe(t)
		p.mu.Lock()
		defer p.mu.Unlock()
		loaded, serving := -1, -1
		for i, m := range p.lines {
			switch m["msg"] {
			case "registry file loaded":
				loaded = i
			case "serving DNS":
				serving = i
			}
		}
		if loaded < 0 || loaded > serving {
			t.Errorf("registry loaded at line %d, serving DNS at %d: %v", loaded, serving, p.lines)
		}
	})
}

// TestSIGHUPWithAnInvalidConfigChangesNothing holds a reload to the rules
// of the start: an unknown key is an error there, so on SIGHUP it leaves
// every setting as it was (ttl is not reset to its default).
func TestSIGHUPWithAnInvalidConfigChangesNothing(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "swarmdns.yaml")
	if err := os.WriteFile(cfg, []byte("ttl: 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "--config", cfg)
	for _, bad := range []string{"tll: 3\n", "ttl: soon\n", "scheduler: weigthed\n"} {
		if err := os.WriteFile(cfg, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		p.mu.Lock()
		p.lines = nil
		p.mu.Unlock()
		p.cmd.Process.Signal(syscall.SIGHUP)
		m := p.waitLog(t, func(m map[string]any) bool {
			return m["msg"] == "SIGHUP: the config file is invalid; no setting changed"
		})
		if m["level"] != "error" {
			t.Errorf("%q: logged at %v, want error", bad, m["level"])
		}
		if resp := p.query(t, "web."); len(resp.Answer) != 1 || resp.Answer[0].Header().Ttl != 42 {
			t.Errorf("%q: answer %v, want TTL 42 still", bad, resp.Answer)
		}
	}
	p.mu.Lock()
	for _, m := range p.lines {
		if m["msg"] == "SIGHUP: settings reloaded" {
			t.Errorf("reloaded: %v", m)
		}
	}
	p.mu.Unlock()
}

//go:build e2e

package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/internal/freeport"
)

// instance is one `swarmdns serve` a test runs besides the suite's two, with
// its own flags, DNS address and log file. It is stopped when the test ends.
type instance struct {
	t    *testing.T
	addr string // DNS, UDP and TCP
	ops  string // the operations listener; "" when off
	log  string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startInstance runs swarmdns serve on addr (host:port; port 0 picks a
// free one) with args after the suite's defaults: no upstream, no
// operations listener, debug logs. withOps turns the operations listener
// on, on a free loopback port.
func startInstance(t *testing.T, addr string, withOps bool, args ...string) *instance {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if port == "0" {
		p, err := freeport.On(host)
		if err != nil {
			t.Fatal(err)
		}
		addr = net.JoinHostPort(host, strconv.Itoa(int(p)))
	}
	in := &instance{t: t, addr: addr, log: filepath.Join(t.TempDir(), "swarmdns.log")}
	in.args = []string{"serve", "--listen", addr, "--resolv-conf", "/dev/null", "--log-level", "debug", "--http-listen", ""}
	if withOps {
		in.ops = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(freeport.Loopback(t))))
		in.args[len(in.args)-1] = in.ops
	}
	in.args = append(in.args, args...)
	in.args = append([]string{bin}, in.args...)
	if err := in.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.cmd.Process.Signal(os.Interrupt)
		select {
		case <-in.done:
		case <-time.After(10 * time.Second):
			in.cmd.Process.Kill()
			<-in.done
		}
		if t.Failed() {
			data, _ := os.ReadFile(in.log)
			t.Logf("swarmdns %s log:\n%s", in.addr, tail(string(data), 60))
		}
	})
	return in
}

// start runs the process (again) with the same flags, appending to the log.
func (in *instance) start() error {
	logf, err := os.OpenFile(in.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	in.cmd = exec.Command(in.args[0], in.args[1:]...)
	in.cmd.Stdout, in.cmd.Stderr = logf, logf
	if err := in.cmd.Start(); err != nil {
		return err
	}
	in.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(in.cmd, in.done)
	return nil
}

// kill9 kills the process with SIGKILL, no shutdown and no last words, and
// waits until it is gone.
func (in *instance) kill9() {
	in.cmd.Process.Signal(syscall.SIGKILL) // fails only when it has exited
	<-in.done
}

// exited reports whether the process has ended.
func (in *instance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// logCount counts the log lines that contain every one of parts.
func (in *instance) logCount(parts ...string) int {
	data, _ := os.ReadFile(in.log)
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// readyz returns the status code and body of GET /readyz (0 when the
// listener does not answer).
func (in *instance) readyz() (int, string) {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + in.ops + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(body))
}

// resolver opens a UDP socket to the instance from this process.
func (in *instance) resolver() *resolver {
	in.t.Helper()
	r, err := dialResolver("swarmdns", 0, in.addr)
	if err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(r.Close)
	return r
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

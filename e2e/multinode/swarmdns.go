//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is the swarmdns binary of `make build`: $SWARMDNS_BIN, else
// bin/swarmdns at the top of the tree.
func Binary() (string, error) {
	if b := os.Getenv("SWARMDNS_BIN"); b != "" {
		return b, nil
	}
	b, err := filepath.Abs("../../bin/swarmdns")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(b); err != nil {
		return "", fmt.Errorf("%s: run `make build` first, or set SWARMDNS_BIN", b)
	}
	return b, nil
}

// Swarmdns is a `swarmdns serve` running on a node as a sidecar on the
// host network would: in the node's network namespace, reading the node's
// engine, answering DNS on the node's address, port 53.
type Swarmdns struct {
	Node *Node
	Addr netip.AddrPort // where it answers DNS
	Log  string         // its log file (JSON lines)
	cmd  *exec.Cmd
	done chan error
}

// StartSwarmdns starts swarmdns on manager node n with extra serve flags;
// it is stopped when the test ends. Forwarded names go to the node's own
// loopback, where nothing answers: nothing leaves the machine.
func StartSwarmdns(t testing.TB, n *Node, flags ...string) *Swarmdns {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Swarmdns{Node: n, Addr: netip.AddrPortFrom(n.Addr, 53), Log: filepath.Join(t.TempDir(), "swarmdns-"+n.Name+".log"), done: make(chan error, 1)}
	logFile, err := os.Create(s.Log)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--net=" + n.Netns, "--", bin, "serve",
		"--docker-host", n.Socket, "--listen", s.Addr.String(), "--upstream", "127.0.0.1:53",
		"--http-listen", "127.0.0.1:8053", "--log-format", "json"}, flags...)
	s.cmd = exec.Command("nsenter", args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start swarmdns on %s: %v", n, err)
	}
	go func() { s.done <- s.cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() { s.Stop() })
	return s
}

// Stop kills swarmdns (SIGKILL, as a crash would) and waits until it is
// gone; it is safe to call again.
func (s *Swarmdns) Stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
}

// LogLines returns the lines of its log that contain every one of words.
func (s *Swarmdns) LogLines(words ...string) ([]string, error) {
	b, err := os.ReadFile(s.Log)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		keep := line != ""
		for _, w := range words {
			keep = keep && strings.Contains(line, w)
		}
		if keep {
			out = append(out, line)
		}
	}
	return out, nil
}

// WaitAnswer waits until the resolver's answer for name is want.
func WaitAnswer(ctx context.Context, r *Resolver, name string, want []netip.Addr, timeout time.Duration) error {
	return Eventually(ctx, timeout, 200*time.Millisecond, func(context.Context) error {
		got, err := r.LookupA(name, time.Second)
		if err == nil && !slices.Equal(got, want) {
			err = fmt.Errorf("%s answers %v, want %v", name, got, want)
		}
		return err
	})
}

//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DockerdPID returns the PID of the node's dockerd, from its pid file.
func (n *Node) DockerdPID() (int, error) {
	path := filepath.Join(n.runDir(), "docker.pid")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("dockerd of %s: %w", n, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("dockerd of %s: pid file %s: %w", n, path, err)
	}
	return pid, nil
}

// KillDockerd kills the node's dockerd with SIGKILL, as a crash would, and
// waits until it is gone. Its containerd, shims and containers live on.
func (n *Node) KillDockerd(ctx context.Context) error {
	pid, err := n.DockerdPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill dockerd of %s (%d): %w", n, pid, err)
	}
	return Eventually(ctx, 10*time.Second, 20*time.Millisecond, func(context.Context) error {
		// Gone or a zombie: either way it no longer serves.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			return fmt.Errorf("dockerd of %s (%d) still runs", n, pid)
		}
		return nil
	})
}

// StartDockerd starts the node's dockerd as multinode-up.sh did and waits
// until its API answers. On a node that was in the Swarm, it rejoins by
// itself.
func (n *Node) StartDockerd(ctx context.Context) error {
	if _, err := run(ctx, n.launcher); err != nil {
		return fmt.Errorf("start dockerd of %s: %w", n, err)
	}
	return n.WaitDockerd(ctx, 30*time.Second)
}

// WaitDockerd waits until the node's engine answers, within timeout.
func (n *Node) WaitDockerd(ctx context.Context, timeout time.Duration) error {
	return Eventually(ctx, timeout, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := n.Docker(ctx, "version", "--format", "{{.Server.Version}}")
		return err
	})
}

//go:build multinode

package multinode

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SidecarImage is the swarmdns image the stack runs: $SWARMDNS_IMAGE
// (`make e2e-multinode` builds swarmdns:multinode into the bed's first node
// and loads it into every engine), else swarmdns:latest.
func SidecarImage() string {
	if img := os.Getenv("SWARMDNS_IMAGE"); img != "" {
		return img
	}
	return "swarmdns:latest"
}

// StackFile is deploy/stack.yml of this checkout.
func StackFile() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "deploy", "stack.yml")
}

// DeployStack runs `docker stack deploy --resolve-image never -c
// deploy/stack.yml name` on the Swarm, with env (SWARMDNS_IMAGE,
// SWARMDNS_UPSTREAM, …) in the deploying client's environment as the stack
// file reads it, and at the test's end removes the stack and waits until
// no sidecar runs on any node.
func (c *Cluster) DeployStack(t testing.TB, name string, env map[string]string) {
	t.Helper()
	file := StackFile()
	args := []string{"-H", c.Manager().Socket, "stack", "deploy", "--resolve-image", "never", "-c", file, name}
	cmd := exec.CommandContext(t.Context(), dockerCLI(), args...)
	cmd.Dir = filepath.Dir(file) // the config's file is relative to it
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker stack deploy %s: %v\n%s", name, err, out.String())
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := c.Manager().Docker(ctx, "stack", "rm", name); err != nil {
			t.Errorf("remove stack %s: %v", name, err)
			return
		}
		err := Eventually(ctx, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
			for _, n := range c.Nodes {
				out, err := n.Docker(ctx, "ps", "-q", "--filter", "label=com.docker.stack.namespace="+name)
				if err != nil {
					return err
				}
				if out != "" {
					return fmt.Errorf("a container of stack %s still runs on %s", name, n)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("remove stack %s: %v", name, err)
		}
	})
}

// HTTP gets path from the sidecar's operations listener on node n
// (127.0.0.1:8053 in the node's network namespace) with the host's curl,
// and returns the status code and body.
func (n *Node) HTTP(ctx context.Context, path string) (int, string, error) {
	out, err := n.Exec(ctx, "curl", "-sS", "--max-time", "2", "-w", "\n%{http_code}", "http://127.0.0.1:8053"+path)
	if err != nil {
		return 0, "", err
	}
	i := strings.LastIndexByte(out, '\n')
	if i < 0 {
		return 0, "", fmt.Errorf("curl %s on %s: no status in %q", path, n, out)
	}
	code, err := strconv.Atoi(out[i+1:])
	return code, out[:i], err
}

// QueriesAnswered sums swarmdns_queries_total in the /metrics of node n's
// sidecar: every query it answered, whatever the path.
func (n *Node) QueriesAnswered(ctx context.Context) (float64, error) {
	code, body, err := n.HTTP(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("/metrics on %s: %d", n, code)
	}
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "swarmdns_queries_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("/metrics on %s: %q: %w", n, line, err)
		}
		sum += v
	}
	return sum, nil
}

//go:build multinode

package multinode

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/docker/client"
)

// Node is one engine of the test bed: a dockerd in network namespace Netns,
// reachable from this machine at Addr and through Socket. Paths under /run
// and /var/lib/docker that its engine sees (bind mounts of services,
// DockerRootDir in /info) are its own; every other path is this machine's.
type Node struct {
	Name    string     // sw1, sw2, …; swx for the separate Swarm
	Addr    netip.Addr // its address on the bridge, its Swarm address
	Role    Role
	Cluster string // "main", or "other" for the separate Swarm
	Socket  string // unix:///run/<name>/docker.sock
	Netns   string // /var/run/netns/<name>

	launcher string // starts its dockerd (written by multinode-up.sh)

	once sync.Once
	api  *client.Client
	err  error
}

func (n *Node) String() string { return n.Name }

// runDir is the node's /run as this machine sees it (/run/<name>).
func (n *Node) runDir() string { return filepath.Dir(strings.TrimPrefix(n.Socket, "unix://")) }

// DataRoot is the node's /var/lib/docker as this machine sees it: its
// Swarm certificates are under DataRoot()/swarm/certificates.
func (n *Node) DataRoot() string { return filepath.Join(Dir(), n.Name, "data") }

// dockerCLI is Debian's docker client, which matches the daemon, else the
// one on PATH.
func dockerCLI() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return "docker"
}

// Docker runs the docker client against the node's engine and returns its
// trimmed standard output.
func (n *Node) Docker(ctx context.Context, args ...string) (string, error) {
	return run(ctx, dockerCLI(), append([]string{"-H", n.Socket}, args...)...)
}

// API returns a Docker API client of the node's engine.
func (n *Node) API() (*client.Client, error) {
	n.once.Do(func() {
		n.api, n.err = client.NewClientWithOpts(client.WithHost(n.Socket), client.WithAPIVersionNegotiation())
	})
	return n.api, n.err
}

// Exec runs a command in the node's network namespace (nsenter --net; not
// `ip netns exec`, which remounts /sys) and returns its trimmed output.
func (n *Node) Exec(ctx context.Context, name string, args ...string) (string, error) {
	return run(ctx, "nsenter", append([]string{"--net=" + n.Netns, "--", name}, args...)...)
}

// run runs a command and returns its trimmed standard output; the error
// carries the command and its standard error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

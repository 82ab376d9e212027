package swarm

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// EngineInfo is what the local engine says of its place in the Swarm
// (Engine API /info): enough for a swarmdns to tell whether it reads the
// Swarm itself (a manager) or follows one, where the managers are, and
// where the node's Swarm certificates live.
type EngineInfo struct {
	// NodeID is this node's Swarm node ID.
	NodeID string
	// Manager is true on a manager node (Swarm.ControlAvailable): its
	// engine answers for services, tasks and nodes.
	Manager bool
	// NodeAddr is the node's address in the Swarm (the advertise
	// address, without a port).
	NodeAddr string
	// RemoteManagers are the managers' Swarm addresses (host:2377), in
	// order.
	RemoteManagers []string
	// DockerRootDir is the engine's data root: the Swarm certificates are
	// under DockerRootDir/swarm/certificates.
	DockerRootDir string
	// ClusterID is the Swarm's ID; only a manager's engine says it (a
	// worker's certificate names it too).
	ClusterID string
}

// ErrNotInSwarm is returned by ReadEngineInfo when the engine is not an
// active node of a Swarm.
var ErrNotInSwarm = errors.New("the Docker engine is not an active Swarm node")

// ReadEngineInfo asks the engine at dockerHost (empty: DOCKER_HOST or the
// local socket) where it stands in the Swarm. It fails when the engine
// cannot be reached, and with ErrNotInSwarm when it is in no Swarm (or
// still joining, or locked).
func ReadEngineInfo(ctx context.Context, dockerHost string) (EngineInfo, error) {
	cli, err := newClient(dockerHost)
	if err != nil {
		return EngineInfo{}, err
	}
	defer cli.Close()
	info, err := cli.Info(ctx)
	if err != nil {
		return EngineInfo{}, fmt.Errorf("engine info from %s: %w", cli.DaemonHost(), err)
	}
	s := info.Swarm
	if s.LocalNodeState != swarm.LocalNodeStateActive || s.NodeID == "" {
		return EngineInfo{}, fmt.Errorf("engine %s: %w (swarm state %q)", cli.DaemonHost(), ErrNotInSwarm, s.LocalNodeState)
	}
	out := EngineInfo{
		NodeID:        s.NodeID,
		Manager:       s.ControlAvailable,
		NodeAddr:      s.NodeAddr,
		DockerRootDir: info.DockerRootDir,
	}
	for _, p := range s.RemoteManagers {
		if p.Addr != "" {
			out.RemoteManagers = append(out.RemoteManagers, p.Addr)
		}
	}
	sort.Strings(out.RemoteManagers)
	if s.Cluster != nil {
		out.ClusterID = s.Cluster.ID
	}
	return out, nil
}

// newClient is a client of the engine at dockerHost (empty: DOCKER_HOST
// or the local socket) that negotiates the API version.
func newClient(dockerHost string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if dockerHost != "" {
		opts = append(opts, client.WithHost(dockerHost))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}

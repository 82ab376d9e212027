package swarm

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
)

// infoEngine serves /info with info, as dockerd 20.10 shapes it.
func infoEngine(t *testing.T, info system.Info) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "application/json")
		switch path := versionPrefix.ReplaceAllString(r.URL.Path, ""); path {
		case "/_ping":
			w.Write([]byte("OK"))
		case "/info":
			json.NewEncoder(w).Encode(info)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return "tcp://" + strings.TrimPrefix(srv.URL, "http://")
}

func TestReadEngineInfo(t *testing.T) {
	managers := []swarmtypes.Peer{{NodeID: "m2", Addr: "10.99.0.3:2377"}, {NodeID: "m1", Addr: "10.99.0.2:2377"}}
	tests := []struct {
		name    string
		info    system.Info
		want    EngineInfo
		wantErr error
	}{
		{"a manager says its node, address, managers, data root and cluster",
			system.Info{DockerRootDir: "/var/lib/docker", Swarm: swarmtypes.Info{
				NodeID: "m1", NodeAddr: "10.99.0.2", LocalNodeState: swarmtypes.LocalNodeStateActive, ControlAvailable: true,
				RemoteManagers: managers, Cluster: &swarmtypes.ClusterInfo{ID: "cluster-1"}}},
			EngineInfo{NodeID: "m1", Manager: true, NodeAddr: "10.99.0.2", RemoteManagers: []string{"10.99.0.2:2377", "10.99.0.3:2377"},
				DockerRootDir: "/var/lib/docker", ClusterID: "cluster-1"}, nil},
		{"a worker is no manager and names no cluster",
			system.Info{DockerRootDir: "/data/docker", Swarm: swarmtypes.Info{
				NodeID: "w1", NodeAddr: "10.99.0.4", LocalNodeState: swarmtypes.LocalNodeStateActive, RemoteManagers: managers}},
			EngineInfo{NodeID: "w1", NodeAddr: "10.99.0.4", RemoteManagers: []string{"10.99.0.2:2377", "10.99.0.3:2377"},
				DockerRootDir: "/data/docker"}, nil},
		{"an engine in no swarm is an error",
			system.Info{Swarm: swarmtypes.Info{LocalNodeState: swarmtypes.LocalNodeStateInactive}}, EngineInfo{}, ErrNotInSwarm},
		{"an engine still joining is an error",
			system.Info{Swarm: swarmtypes.Info{NodeID: "w1", LocalNodeState: swarmtypes.LocalNodeStatePending}}, EngineInfo{}, ErrNotInSwarm},
		{"a locked engine is an error",
			system.Info{Swarm: swarmtypes.Info{LocalNodeState: swarmtypes.LocalNodeStateLocked}}, EngineInfo{}, ErrNotInSwarm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadEngineInfo(t.Context(), infoEngine(t, tt.info))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReadEngineInfoOfAnUnreachableEngineSaysWhich(t *testing.T) {
	_, err := ReadEngineInfo(t.Context(), "unix:///nonexistent/docker.sock")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/docker.sock") {
		t.Fatalf("want an error naming the engine, got %v", err)
	}
}

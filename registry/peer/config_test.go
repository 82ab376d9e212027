package peer

import (
	"strings"
	"testing"

	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

func TestConfigsWithoutWhatTheyNeedAreRefused(t *testing.T) {
	sw := newSwarm(t)
	creds, _ := sw.node(swarmpki.RoleWorker, "w1")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"follower without managers", second(NewFollower(FollowerConfig{Credentials: creds})), "no manager address"},
		{"follower with an empty manager address", second(NewFollower(FollowerConfig{Managers: []string{""}, Credentials: creds})), "empty"},
		{"follower without credentials", second(NewFollower(FollowerConfig{Managers: []string{"10.0.0.1"}})), "no credentials"},
		{"server without credentials", second(NewServer(ServerConfig{})), "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
				t.Fatalf("error = %v, want one saying %q", tt.err, tt.want)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestPeerAddressesTakeThePeerPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.99.0.2", "10.99.0.2:5354"},
		{"10.99.0.2:6000", "10.99.0.2:6000"},
		{"fd00::2", "[fd00::2]:5354"},
		{"mgr.example", "mgr.example:5354"},
	}
	for _, tt := range tests {
		if got, err := PeerAddr(tt.in, DefaultPort); err != nil || got != tt.want {
			t.Errorf("PeerAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	got := PeerAddrs([]string{"10.99.0.2:2377", "[fd00::3]:2377"}, DefaultPort)
	if len(got) != 2 || got[0] != "10.99.0.2:5354" || got[1] != "[fd00::3]:5354" {
		t.Errorf("PeerAddrs of Swarm addresses = %v, want the same hosts on port 5354", got)
	}
}

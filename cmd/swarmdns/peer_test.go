package main

import (
	"strings"
	"testing"

	"github.com/swarmdns/swarmdns/registry/swarm"
)

func TestPeerCertificateFlags(t *testing.T) {
	info := swarm.EngineInfo{DockerRootDir: t.TempDir()}
	tests := []struct {
		name string
		opts peerOptions
		want string
	}{
		{"one of the three is refused", peerOptions{peerCert: "a.crt"}, "go together"},
		{"two of the three are refused", peerOptions{peerCert: "a.crt", peerKey: "a.key"}, "go together"},
		{"the engine's files, missing, are named", peerOptions{}, info.DockerRootDir + "/swarm/certificates/"},
		{"the three given files, missing, are named", peerOptions{peerCert: "/nope/a.crt", peerKey: "/nope/a.key", peerCA: "/nope/ca.crt"}, "/nope/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.credentials(info)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

package main

import (
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry/swarm"
	"github.com/swarmdns/swarmdns/server"
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

func TestNodeLocalAddressThatNoListenerCanServeIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		listen string
		addr   string
		want   string
	}{
		{"an IPv6 address with --listen 0.0.0.0, which takes IPv4 only over UDP", "0.0.0.0:53", "fd00:53::53", "is IPv6"},
		{"a node-local address that is no IP", "127.0.0.1:53", "node-local", "want an IP address"},
		{"a --listen that is no address", "localhost:53", "169.254.53.53", "is not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &nodeRole{opts: &peerOptions{nodeLocalAddress: tt.addr}, log: quietEntry()}
			err := n.bindNodeLocal(&server.Server{Addr: tt.listen}, quietEntry())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if n.binding != nil {
				t.Fatal("an address was bound despite the error")
			}
		})
	}
}

func quietEntry() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

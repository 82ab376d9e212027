package main

import (
	"testing"
)

func TestEveryFlagReadsItsEnvironmentVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		flag string
		want string
	}{
		{"env sets a flag", map[string]string{"SWARMDNS_TTL": "30"}, nil, "ttl", "30"},
		{"dashes become underscores", map[string]string{"SWARMDNS_MAX_ANSWERS": "2"}, nil, "max-answers", "2"},
		{"the command line wins over env", map[string]string{"SWARMDNS_TTL": "30"}, []string{"--ttl", "9"}, "ttl", "9"},
		{"unset env keeps the default", nil, nil, "domain", "swarm.internal."},
		{"the UDP reply cap is 1232 bytes by default", nil, nil, "max-udp-size", "1232"},
		{"env sets the UDP reply cap", map[string]string{"SWARMDNS_MAX_UDP_SIZE": "4096"}, nil, "max-udp-size", "4096"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cmd := newServeCommand()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(cmd.Flags()); err != nil {
				t.Fatal(err)
			}
			if got := cmd.Flags().Lookup(tc.flag).Value.String(); got != tc.want {
				t.Fatalf("--%s = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
}

func TestABadEnvironmentValueIsAnError(t *testing.T) {
	t.Setenv("SWARMDNS_TTL", "soon")
	cmd := newServeCommand()
	if err := applyEnv(cmd.Flags()); err == nil {
		t.Fatal("accepted SWARMDNS_TTL=soon")
	}
}

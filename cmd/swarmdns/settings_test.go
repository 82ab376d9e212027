package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFile(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		args    []string
		flag    string
		want    string
		wantErr string
	}{
		{"the file sets a flag", "ttl: 30\n", nil, nil, "ttl", "30", ""},
		{"a list flag takes a sequence", "upstream: [10.0.0.1, 10.0.0.2:5353]\n", nil, nil, "upstream", "[10.0.0.1,10.0.0.2:5353]", ""},
		{"env wins over the file", "ttl: 30\n", map[string]string{"SWARMDNS_TTL": "7"}, nil, "ttl", "7", ""},
		{"the command line wins over the file", "ttl: 30\n", nil, []string{"--ttl", "9"}, "ttl", "9", ""},
		{"an unknown setting is an error that names the nearest", "ttl: 3\ntll: 30\n", nil, nil, "", "", `c.yaml:2: "tll" is not a setting; did you mean ttl?`},
		{"an unknown setting far from any says where the settings are", "colour: red\n", nil, nil, "", "", `c.yaml:1: "colour" is not a setting; the settings are the flags of swarmdns serve (see --help), without the dashes`},
		{"a bad value is an error", "ttl: soon\n", nil, nil, "", "", `c.yaml:1: ttl: "soon" is not a whole number from 0 to 4294967295`},
		{"a file with a bad setting sets none", "log-queries: true\nttl: soon\n", nil, nil, "", "", "ttl"},
		{"a mapping value is an error", "ttl: {a: 1}\n", nil, nil, "", "", "c.yaml:1: ttl: want a value or a list"},
		{"a list file is an error", "- ttl\n", nil, nil, "", "", "c.yaml:1: want a mapping of settings to values, e.g. ttl: 10"},
		{"bad YAML is an error with its line", "ttl: [\n", nil, nil, "", "", "c.yaml:1: YAML syntax: "},
		{"an empty file sets nothing", "", nil, nil, "ttl", "5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(path, []byte(tt.file), 0o644)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cmd := newServeCommand()
			if err := cmd.ParseFlags(append([]string{"--config", path}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(cmd.Flags()); err != nil {
				t.Fatal(err)
			}
			err := applyConfigFile(cmd.Flags())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cmd.Flags().Lookup(tt.flag).Value.String(); got != tt.want {
				t.Errorf("--%s = %q, want %q", tt.flag, got, tt.want)
			}
		})
	}
}

func TestMaxUDPSizeOutOfRangeIsAnErrorAtStart(t *testing.T) {
	for _, v := range []string{"511", "65536", "0"} {
		t.Run(v, func(t *testing.T) {
			cmd := newServeCommand()
			cmd.SetArgs([]string{"--max-udp-size", v, "--listen", "127.0.0.1:0", "--http-listen", ""})
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), "--max-udp-size: "+v+" bytes is out of range; use 512 to 65535") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Every message a bad setting gets at start: the flag (or variable, or
// config file line) as the user gave it, what was wrong, and what would be
// right, with no Go internals.
func TestSettingErrorsAreInTheUsersWords(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"a bad duration", []string{"--poll-interval", "soon"}, nil,
			`--poll-interval: "soon" is not a duration; use a number with a unit, e.g. 500ms, 5s or 1m30s`},
		{"a bad ttl", []string{"--ttl", "soon"}, nil, `--ttl: "soon" is not a whole number from 0 to 4294967295`},
		{"a negative ttl", []string{"--ttl", "-5"}, nil, `--ttl: "-5" is not a whole number from 0 to 4294967295`},
		{"a bad number", []string{"--max-tcp-conns", "many"}, nil, `--max-tcp-conns: "many" is not a whole number`},
		{"a bad bool", []string{"--prefer-local=maybe"}, nil, `--prefer-local: "maybe" is not true or false`},
		{"a bad IP", []string{"--upstream", "1.2.3.x"}, nil,
			`--upstream: "1.2.3.x" is not an IP address; use ip or ip:port, e.g. 10.0.0.2 or [fd00::2]:53 (host names are not supported)`},
		{"a bad CIDR", []string{"--allow-recursion", "10.0.0.0/99"}, nil,
			`--allow-recursion: "10.0.0.0/99" is not an address or CIDR prefix; use e.g. 10.0.0.0/8, fd00::/8 or 192.0.2.1`},
		{"a bad listen address", []string{"--listen", "localhost:53"}, nil,
			`--listen: "localhost:53": "localhost" is not an IP address (host names are not supported); use ip:port, e.g. 127.0.0.1:53, [::1]:53 or :53 for every address`},
		{"a bad log level", []string{"--log-level", "verbose"}, nil,
			`--log-level: "verbose" is not a level; use one of panic, fatal, error, warn, info, debug, trace`},
		{"a bad log format", []string{"--log-format", "xml"}, nil, `--log-format: "xml" is not a format; use text or json`},
		{"a bad scheduler, with the nearest", []string{"--scheduler", "weigthed"}, nil,
			`--scheduler: "weigthed" is not a scheduler; use one of random, roundrobin, weighted; did you mean weighted?`},
		{"a negative max-answers", []string{"--max-answers", "-1"}, nil, `--max-answers: -1 is negative; use 0 (every record) or more`},
		{"an unknown flag, with the nearest", []string{"--tll", "3"}, nil, `unknown flag --tll; did you mean --ttl?`},
		{"a bad environment variable", nil, map[string]string{"SWARMDNS_TTL": "soon"}, `SWARMDNS_TTL: "soon" is not a whole number from 0 to 4294967295`},
		{"a --network the registry file does not have", []string{"--network", "nosuchnet"}, nil,
			`--network "nosuchnet" names no network of the registry; it has appnet, backnet`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			root := newRootCommand()
			root.SetArgs(append([]string{"serve", "--registry-file", "../../examples/registry.yaml", "--listen", "127.0.0.1:0",
				"--http-listen", "", "--resolv-conf", noResolvConf(t), "--log-level", "error"}, tt.args...))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := root.ExecuteContext(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n%s\nwant\n%s", err, tt.want)
			}
			for _, internal := range []string{"strconv", "netip", "logrus", "!!", "time:", "Parse", "invalid syntax", "flag:"} {
				if strings.Contains(err.Error(), internal) {
					t.Errorf("error %q shows %q", err, internal)
				}
			}
		})
	}
}

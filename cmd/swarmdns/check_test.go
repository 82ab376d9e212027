package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "networks: [{name: appnet}]\nservices:\n  - name: web\n    networks: [{name: appnet, vip: 10.0.1.2}]\n    tasks: [{id: t1, slot: 1, addresses: {appnet: [10.0.1.11]}}]\n")
	badLabel := write("label.yaml", "services:\n  - name: web\n    labels: {swarmdns.scheduler: weigthed}\n    endpoint_mode: dnsrr\n")
	empty := write("empty.yaml", "# nothing yet\n")
	bad := write("bad.yaml", "services:\n  - name: web\n    endpoint_mode: anycast\n    labels: {swarmdns.ttl: soon}\n  - name: web\n")
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		stdout  []string
		stderr  []string
	}{
		{"a valid file is ok and counted", []string{"--registry-file", good}, false, []string{"good.yaml: ok (1 services, 1 running tasks, 1 networks)"}, nil},
		{"the example registry is valid", []string{"--registry-file", "../../examples/registry.yaml"}, false, []string{": ok ("}, nil},
		{"every problem is printed, each with file and line", []string{"--registry-file", bad}, true, nil,
			[]string{"bad.yaml:3: services[0].endpoint_mode: service \"web\": \"anycast\" is not an endpoint mode; use vip or dnsrr\n",
				"bad.yaml:4: services[0].labels.swarmdns.ttl: service \"web\": ttl \"soon\": want seconds\n",
				"bad.yaml:5: services[1].name: service \"web\" is defined twice\n"}},
		{"the file can be the argument", []string{good}, false, []string{"good.yaml: ok (1 services, 1 running tasks, 1 networks)"}, nil},
		{"a misspelt scheduler label is an error", []string{badLabel}, true, nil,
			[]string{`label.yaml:3: services[0].labels.swarmdns.scheduler: service "web": "weigthed" is not a scheduler; use one of random, roundrobin, weighted; did you mean weighted?`}},
		{"an empty file is not a registry", []string{empty}, true, nil, []string{"empty.yaml: the file is empty"}},
		{"two different files is an error", []string{good, "--registry-file", bad}, true, nil, nil},
		{"a missing file is an error", []string{"--registry-file", filepath.Join(dir, "nope.yaml")}, true, nil, []string{"no such file"}},
		{"no file is an error", nil, true, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCommand()
			var out, errOut bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errOut)
			root.SetArgs(append([]string{"check"}, tt.args...))
			err := root.Execute()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v; stderr %s", err, tt.wantErr, errOut.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout %q does not contain %q", out.String(), s)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut.String(), s) {
					t.Errorf("stderr %q does not contain %q", errOut.String(), s)
				}
			}
		})
	}
}

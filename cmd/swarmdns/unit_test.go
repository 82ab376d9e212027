package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies runs systemd's own checker (systemd-analyze
// verify, from Debian's systemd package, which .ci/run installs) on
// deploy/swarmdns.service, with ExecStart pointing at an executable that
// exists here. verify exits 0 even for a value it ignores, so any output
// fails the test too.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (Debian package systemd): %v", err)
	}
	unit, err := os.ReadFile("../../deploy/swarmdns.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	if !strings.Contains(text, "ExecStart=/usr/local/bin/swarmdns serve") {
		t.Fatal("the unit no longer starts /usr/local/bin/swarmdns serve")
	}
	path := filepath.Join(t.TempDir(), "swarmdns.service")
	text = strings.Replace(text, "/usr/local/bin/swarmdns", self, 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

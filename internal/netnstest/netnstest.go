// Package netnstest runs a test in a user and network namespace of its
// own, where it may change the network (bring lo up, add addresses to it)
// without root and without changing anything of this machine's.
//
// A test calls Isolated first and does its work only when it returns
// true:
//
//	if !netnstest.Isolated(t) {
//		return
//	}
//
// Isolated needs unprivileged user namespaces (Linux) and a test binary
// that can re-execute itself (go test builds one).
package netnstest

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// inNetns is set in the test binary re-executed in the new namespaces.
const inNetns = "SWARMDNS_TEST_IN_NETNS"

// Isolated runs the calling test again, alone, in a new user and network
// namespace, and reports whether the caller is that run (and should do
// the work). In the outer run it returns false once the inner run has
// passed, and fails t with the inner run's output if it did not.
func Isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv(inNetns) == "1" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), inNetns+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a network namespace of its own: %v\n%s", t.Name(), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in the network namespace:\n%s", t.Name(), out)
	}
	return false
}

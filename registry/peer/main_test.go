package peer

import (
	"os"
	"testing"
)

// helperRoles are the other processes this test binary can be, for the
// benchmarks and harnesses that run a manager and its followers apart: a
// role that its environment asks for runs instead of the tests.
var helperRoles []func() (code int, ran bool)

func TestMain(m *testing.M) {
	for _, role := range helperRoles {
		if code, ran := role(); ran {
			os.Exit(code)
		}
	}
	os.Exit(m.Run())
}

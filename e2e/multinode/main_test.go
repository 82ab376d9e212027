//go:build multinode

package multinode

import (
	"fmt"
	"os"
	"testing"
)

// bed is the test bed multinode-up.sh brought up.
var bed *Cluster

func TestMain(m *testing.M) {
	c, err := Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "multinode:", err)
		os.Exit(1)
	}
	bed = c
	os.Exit(m.Run())
}

//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// EmbeddedDNS is Docker's resolver inside every container on a
// user-defined network.
const EmbeddedDNS = "127.0.0.11"

// Dig runs the real dig in the network namespace of process pid (a
// container's: ContainerPID) and returns its output.
func Dig(ctx context.Context, pid int, args ...string) (string, error) {
	return run(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", "--", "dig"}, args...)...)
}

// LookupA asks server (an address, optionally with #port as dig takes it)
// from inside the network namespace of pid for the A records of name, and
// returns them sorted. One try, one second: a missing answer is an error.
func LookupA(ctx context.Context, pid int, server, name string) ([]netip.Addr, error) {
	out, err := Dig(ctx, pid, "@"+server, "+tries=1", "+time=1", "+noall", "+answer", "+comments", name, "A")
	if err != nil {
		return nil, err
	}
	if !strings.Contains(out, "status: NOERROR") && !strings.Contains(out, "status: NXDOMAIN") {
		return nil, fmt.Errorf("dig @%s %s: no answer: %s", server, name, out)
	}
	var addrs []netip.Addr
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[3] == "A" && !strings.HasPrefix(f[0], ";") {
			a, err := netip.ParseAddr(f[4])
			if err != nil {
				return nil, fmt.Errorf("dig @%s %s: %q: %w", server, name, line, err)
			}
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return addrs, nil
}

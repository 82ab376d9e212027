package forward

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
)

// DefaultResolvConf is read for upstreams when none are configured.
const DefaultResolvConf = "/etc/resolv.conf"

// dockerEmbeddedDNS is the resolver Docker puts in a container's
// resolv.conf. Forwarding to it from a container loops back (moby#47716).
var dockerEmbeddedDNS = netip.MustParseAddr("127.0.0.11")

// parseUpstream reads "ip", "ip:port", "[ipv6]:port" or a bare IPv6 address.
// Host names are refused: resolving them would need the very resolver being
// configured.
func parseUpstream(s string) (netip.AddrPort, error) {
	host, port := strings.TrimSpace(s), "53"
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP address; use ip or ip:port, e.g. 10.0.0.2 or [fd00::2]:53 (host names are not supported)", host)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return netip.AddrPort{}, fmt.Errorf("port %q is not a port number; use 1 to 65535", port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(n)), nil
}

// parseResolvConf returns the nameserver lines of a resolv.conf, on port 53.
// Lines it cannot read are ignored, as the libc resolver does.
func parseResolvConf(data string) []netip.AddrPort {
	var out []netip.AddrPort
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), 53))
	}
	return out
}

// resolveUpstreams works out the upstream list from cfg: the configured
// upstreams, else resolv.conf's nameservers, minus swarmdns itself and
// Docker's embedded resolver, without duplicates.
func resolveUpstreams(cfg Config, log *logrus.Entry) ([]netip.AddrPort, error) {
	var candidates []netip.AddrPort
	source := "--upstream"
	if len(cfg.Upstreams) > 0 {
		for _, s := range cfg.Upstreams {
			ap, err := parseUpstream(s)
			if err != nil {
				return nil, fmt.Errorf("--upstream: %w", err)
			}
			candidates = append(candidates, ap)
		}
	} else {
		path := cfg.ResolvConf
		if path == "" {
			path = DefaultResolvConf
		}
		source = path
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && cfg.ResolvConf == "":
			log.WithField("path", path).Warn("forward: no resolv.conf; names outside the zone will be refused")
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("--resolv-conf: %w", err)
		}
		candidates = parseResolvConf(string(data))
	}

	var local []netip.Addr
	if selfUnspecified(cfg.Self) {
		local = localAddrs()
	}
	var out []netip.AddrPort
	for _, ap := range candidates {
		switch {
		case ap.Addr() == dockerEmbeddedDNS:
			log.WithFields(logrus.Fields{"upstream": ap, "source": source}).
				Warn("forward: skipping Docker's embedded DNS as upstream, it would loop (moby#47716)")
		case isSelf(ap, cfg.Self, local):
			log.WithFields(logrus.Fields{"upstream": ap, "source": source}).
				Warn("forward: skipping upstream that is swarmdns itself")
		case contains(out, ap):
		default:
			out = append(out, ap)
		}
	}
	return out, nil
}

func contains(list []netip.AddrPort, ap netip.AddrPort) bool {
	for _, x := range list {
		if x == ap {
			return true
		}
	}
	return false
}

func selfUnspecified(self []netip.AddrPort) bool {
	for _, s := range self {
		if s.Addr().Unmap().IsUnspecified() {
			return true
		}
	}
	return false
}

// isSelf reports whether ap reaches one of swarmdns's listeners. A wildcard
// listener (0.0.0.0 or ::) is reached through loopback and every local
// address on its port.
func isSelf(ap netip.AddrPort, self []netip.AddrPort, local []netip.Addr) bool {
	a := ap.Addr().Unmap().WithZone("")
	for _, s := range self {
		if s.Port() != ap.Port() {
			continue
		}
		sa := s.Addr().Unmap().WithZone("")
		if sa == a {
			return true
		}
		if !sa.IsUnspecified() {
			continue
		}
		if a.IsLoopback() || a.IsUnspecified() {
			return true
		}
		for _, l := range local {
			if l == a {
				return true
			}
		}
	}
	return false
}

func localAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

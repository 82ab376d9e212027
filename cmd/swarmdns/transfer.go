package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/server/transfer"
)

// transferOptions are the flags of the zone's NS set and of zone
// transfers (docs/names.md, "Zone transfers").
type transferOptions struct {
	nameservers  []string
	allow        []string
	tsigKeys     []string
	notify       []string
	reverse      []string
	stateFile    string
	maxTransfers int
	timeout      time.Duration
	notifyEvery  time.Duration
}

func (o *transferOptions) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&o.nameservers, "nameserver", nil, "a name of the zone's NS set, NAME=IP (repeatable; default ns.<domain> with the address DNS is served on)")
	f.StringSliceVar(&o.allow, "transfer-allow", nil, "CIDRs of clients that may transfer the zone (AXFR, IXFR); empty: none")
	f.StringArrayVar(&o.tsigKeys, "tsig-key", nil, "require TSIG for transfers with this key, name:algorithm:secret-file (repeatable; hmac-sha256, hmac-sha384, hmac-sha512)")
	f.StringSliceVar(&o.notify, "notify", nil, "secondary to send NOTIFY on every serial change, ip[:port] (repeatable)")
	f.StringSliceVar(&o.reverse, "transfer-reverse", nil, "also transfer the reverse zone of this CIDR, e.g. 10.0.0.0/8 for 10.in-addr.arpa (repeatable)")
	f.StringVar(&o.stateFile, "transfer-state", "", "file that keeps each zone's SOA serial across restarts")
	f.IntVar(&o.maxTransfers, "max-transfers", 4, "zone transfers under way at once; more are refused")
	f.DurationVar(&o.timeout, "transfer-timeout", time.Minute, "longest time one zone transfer may take")
	f.DurationVar(&o.notifyEvery, "notify-interval", time.Second, "least time between two NOTIFY of a zone to one secondary")
}

// nameserverSet parses --nameserver, or makes the default: ns.<domain>
// with the address of --listen, or the node's when it listens on all.
func (o *transferOptions) nameserverSet(domain, listen string) ([]registry.Nameserver, error) {
	var set []registry.Nameserver
	for _, v := range o.nameservers {
		name, ip, ok := strings.Cut(v, "=")
		a, err := netip.ParseAddr(strings.TrimSpace(ip))
		if !ok || strings.TrimSpace(name) == "" || err != nil {
			return nil, fmt.Errorf("--nameserver %q: want NAME=IP, e.g. ns1.%s=10.0.0.1", v, strings.TrimSuffix(domain, "."))
		}
		name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
		if !strings.Contains(name, ".") {
			name += "." + strings.TrimSuffix(domain, ".")
		}
		name += "."
		found := false
		for i := range set {
			if set[i].Name == name {
				set[i].Addrs, found = append(set[i].Addrs, a), true
			}
		}
		if !found {
			set = append(set, registry.Nameserver{Name: name, Addrs: []netip.Addr{a}})
		}
	}
	if len(set) > 0 {
		return set, nil
	}
	self, err := listenAddrPort(listen)
	if err != nil {
		return nil, err
	}
	a := self.Addr()
	if a.IsUnspecified() {
		a = nodeAddr()
	}
	d := strings.TrimSuffix(domain, ".")
	return []registry.Nameserver{{Name: "ns." + d + ".", Addrs: []netip.Addr{a}}}, nil
}

// nodeAddr is the address of the interface of the default route, or
// loopback when there is none.
func nodeAddr() netip.Addr {
	if f, err := os.Open("/proc/net/route"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || fields[1] != "00000000" {
				continue
			}
			if ifc, err := net.InterfaceByName(fields[0]); err == nil {
				if addrs, err := ifc.Addrs(); err == nil {
					for _, ad := range addrs {
						if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr().Is4() && p.Addr().IsGlobalUnicast() {
							return p.Addr()
						}
					}
				}
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// build returns the zone transfer service, or nil when transfers are off.
func (o *transferOptions) build(log *logrus.Entry) (*transfer.Transfer, error) {
	if len(o.allow) == 0 {
		for flag, set := range map[string]bool{"--tsig-key": len(o.tsigKeys) > 0, "--notify": len(o.notify) > 0, "--transfer-reverse": len(o.reverse) > 0} {
			if set {
				return nil, fmt.Errorf("%s needs --transfer-allow: zone transfers are off without it", flag)
			}
		}
		return nil, nil
	}
	cfg := transfer.Config{
		StateFile: o.stateFile, MaxTransfers: o.maxTransfers, Timeout: o.timeout, NotifyInterval: o.notifyEvery,
		Log: log.WithField("component", "transfer"),
	}
	for _, v := range o.allow {
		p, err := parsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("--transfer-allow %q: want a CIDR or an IP address", v)
		}
		cfg.Allow = append(cfg.Allow, p)
	}
	for _, v := range o.reverse {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("--transfer-reverse %q: want a CIDR, e.g. 10.0.0.0/8", v)
		}
		cfg.Reverse = append(cfg.Reverse, p)
	}
	for _, v := range o.tsigKeys {
		k, err := transfer.ParseKey(v)
		if err != nil {
			return nil, err
		}
		cfg.Keys = append(cfg.Keys, k)
	}
	for _, v := range o.notify {
		a, err := parseAddrPort(v, 53)
		if err != nil {
			return nil, fmt.Errorf("--notify %q: want ip[:port]", v)
		}
		cfg.Notify = append(cfg.Notify, a)
	}
	return transfer.New(cfg)
}

func parsePrefix(v string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(v); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(v)
}

func parseAddrPort(v string, port uint16) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(v); err == nil {
		return netip.AddrPortFrom(a, port), nil
	}
	host, p, err := net.SplitHostPort(v)
	if err != nil {
		return netip.AddrPort{}, err
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, uint16(n)), nil
}

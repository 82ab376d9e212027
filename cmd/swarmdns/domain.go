package main

import "strings"

// mdnsDomainWarning says why a --domain under .local does not work for
// most clients, or "" for any other domain. domain is lower case, with
// or without the final dot.
func mdnsDomainWarning(domain string) string {
	d := strings.TrimSuffix(domain, ".")
	if d != "local" && !strings.HasSuffix(d, ".local") {
		return ""
	}
	return "--domain is under .local, which RFC 6762 reserves for multicast DNS: " +
		"hosts with nss-mdns or systemd-resolved's mDNS send *.local names to mDNS and never to swarmdns, " +
		"and dig warns on every query; use a domain under .internal, such as the default swarm.internal. (docs/names.md)"
}

package forward

import (
	"net/netip"
	"testing"
)

func TestACLAllows(t *testing.T) {
	def, err := ParseACL(DefaultAllowRecursion)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := ParseACL([]string{"127.0.0.1/32", "192.0.2.7", "::ffff:198.51.100.0/120", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		acl  ACL
		addr string
		want bool
	}{
		{"default allows loopback", def, "127.0.0.1", true},
		{"default allows all of 127/8", def, "127.8.9.10", true},
		{"default allows ipv6 loopback", def, "::1", true},
		{"default allows 10/8", def, "10.255.0.3", true},
		{"default allows docker bridge 172.17", def, "172.17.0.2", true},
		{"default allows top of 172.16/12", def, "172.31.255.255", true},
		{"default refuses just past 172.16/12", def, "172.32.0.1", false},
		{"default allows 192.168/16", def, "192.168.1.1", true},
		{"default allows unique local ipv6", def, "fd00::1", true},
		{"default refuses public ipv4", def, "8.8.8.8", false},
		{"default refuses public ipv6", def, "2001:4860::8888", false},
		{"ipv4-mapped private client is allowed", def, "::ffff:10.0.0.1", true},
		{"ipv4-mapped public client is refused", def, "::ffff:8.8.8.8", false},
		{"zoned link-local is refused", def, "fe80::1%eth0", false},
		{"custom /32 allows exactly that host", custom, "127.0.0.1", true},
		{"custom /32 refuses its neighbour", custom, "127.0.0.2", false},
		{"bare address is a single host", custom, "192.0.2.7", true},
		{"mapped prefix applies to ipv4 clients", custom, "198.51.100.9", true},
		{"ipv6 prefix matches", custom, "2001:db8::53", true},
		{"zero ACL allows nobody", ACL{}, "127.0.0.1", false},
		{"invalid address is refused", def, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr netip.Addr
			if tt.addr != "" {
				addr = netip.MustParseAddr(tt.addr)
			}
			if got := tt.acl.Allows(addr); got != tt.want {
				t.Errorf("Allows(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestParseACLRejectsGarbage(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.0/8/8", "fe80::/10%eth0"} {
		if _, err := ParseACL([]string{s}); err == nil {
			t.Errorf("ParseACL(%q) succeeded, want error", s)
		}
	}
}

func TestACLAllowsDoesNotAllocate(t *testing.T) {
	acl, err := ParseACL(DefaultAllowRecursion)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("172.18.0.5"), netip.MustParseAddr("::ffff:8.8.8.8"), netip.MustParseAddr("fd12::1")}
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			acl.Allows(a)
		}
	})
	if allocs != 0 {
		t.Errorf("Allows allocates %v times per run, want 0", allocs)
	}
}

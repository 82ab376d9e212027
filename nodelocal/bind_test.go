package nodelocal

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/swarmdns/swarmdns/internal/netnstest"
)

var nodeLocal = netip.MustParseAddr("169.254.53.53")

// onLo returns the label of addr on lo, and whether it is there.
func onLo(t *testing.T, addr netip.Addr) (label string, ok bool) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(lo, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.IP.Equal(addr.AsSlice()) {
			return a.Label, true
		}
	}
	return "", false
}

func addByHand(t *testing.T, addr netip.Addr, label string) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	bits := addr.BitLen()
	if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(bits, bits)}, Label: label}); err != nil {
		t.Fatal(err)
	}
}

func TestBindAddsTheAddressToLoAndReleaseRemovesIt(t *testing.T) {
	if !netnstest.Isolated(t) {
		return
	}
	b, err := Bind(nodeLocal, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if label, ok := onLo(t, nodeLocal); !ok || label != "lo:swarmdns" || !b.Owned() {
		t.Fatalf("after Bind: on lo %v, label %q, owned %v; want on lo, labelled lo:swarmdns, owned", ok, label, b.Owned())
	}
	// The address answers: something can listen on it.
	pc, err := net.ListenPacket("udp", net.JoinHostPort(nodeLocal.String(), "0"))
	if err != nil {
		t.Fatalf("listen on the bound address: %v", err)
	}
	pc.Close()
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok := onLo(t, nodeLocal); ok {
		t.Fatal("the address is still on lo after Release")
	}
	if err := b.Release(); err != nil {
		t.Fatalf("a second Release: %v", err)
	}
}

func TestBindTakesOverAnAddressAnEarlierSwarmdnsLeft(t *testing.T) {
	if !netnstest.Isolated(t) {
		return
	}
	addByHand(t, nodeLocal, "lo:swarmdns") // as a killed swarmdns leaves it
	b, err := Bind(nodeLocal, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if !b.Owned() {
		t.Fatal("an address labelled as swarmdns's is not taken over")
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok := onLo(t, nodeLocal); ok {
		t.Fatal("the address left by the earlier swarmdns is still on lo after Release")
	}
}

func TestBindLeavesAnAddressTheOperatorAdded(t *testing.T) {
	if !netnstest.Isolated(t) {
		return
	}
	for _, addr := range []netip.Addr{nodeLocal, netip.MustParseAddr("fd53::53")} {
		addByHand(t, addr, "") // the documented host step
		b, err := Bind(addr, "lo")
		if err != nil {
			t.Fatal(err)
		}
		if b.Owned() {
			t.Fatalf("%s: an address added by hand counts as swarmdns's", addr)
		}
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
		if _, ok := onLo(t, addr); !ok {
			t.Fatalf("%s: Release removed an address swarmdns did not add", addr)
		}
	}
}

func TestBindAnIPv6AddressIsOwnedWithoutALabel(t *testing.T) {
	if !netnstest.Isolated(t) {
		return
	}
	addr := netip.MustParseAddr("fd53::53")
	b, err := Bind(addr, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := onLo(t, addr); !ok || !b.Owned() {
		t.Fatalf("after Bind: on lo %v, owned %v", ok, b.Owned())
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok := onLo(t, addr); ok {
		t.Fatal("still on lo after Release")
	}
}

func TestBindErrors(t *testing.T) {
	tests := []struct {
		name string
		addr netip.Addr
		dev  string
		want string
	}{
		{"no address", netip.Addr{}, "lo", "none given"},
		{"a device that does not exist is named", nodeLocal, "nosuchdev0", "device nosuchdev0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Bind(tt.addr, tt.dev)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

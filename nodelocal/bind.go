package nodelocal

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// labelSuffix marks an IPv4 address swarmdns added: the label is the
// device's name and this suffix ("lo:swarmdns"), so that an address left
// behind by a killed swarmdns is known as its own and one an operator added
// is not.
const labelSuffix = ":swarmdns"

// Binding is an address bound to a device.
type Binding struct {
	link  netlink.Link
	addr  *netlink.Addr
	owned bool
}

// Bind adds addr as a host address (/32, /128) to the device named dev,
// unless it is there already. An address swarmdns added before (labelled
// as its own, IPv4) is taken over and removed by Release; one added by
// someone else stays. It fails with a clear error without CAP_NET_ADMIN.
func Bind(addr netip.Addr, dev string) (*Binding, error) {
	if !addr.IsValid() {
		return nil, errors.New("node-local address: none given")
	}
	addr = addr.Unmap()
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("node-local address %s: device %s: %w", addr, dev, err)
	}
	b := &Binding{link: link, addr: &netlink.Addr{
		IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(addr.BitLen(), addr.BitLen())},
		Scope: int(netlink.SCOPE_HOST),
	}}
	if addr.Is4() {
		b.addr.Label = label(dev)
	}
	present, ours, err := b.present()
	if err != nil {
		return nil, err
	}
	if present {
		b.owned = ours
		return b, nil
	}
	if err := netlink.AddrAdd(link, b.addr); err != nil {
		if errors.Is(err, unix.EPERM) {
			err = fmt.Errorf("%w: swarmdns needs CAP_NET_ADMIN (cap_add: NET_ADMIN), or add it on the host: ip addr add %s dev %s", err, b.addr.IPNet, dev)
		}
		return nil, fmt.Errorf("node-local address %s on %s: %w", b.addr.IPNet, dev, err)
	}
	b.owned = true
	return b, nil
}

// label is the label of an address swarmdns adds to dev, at most the 15
// bytes the kernel keeps.
func label(dev string) string {
	l := dev + labelSuffix
	if len(l) > unix.IFNAMSIZ-1 {
		l = l[:unix.IFNAMSIZ-1]
	}
	return l
}

// present reports whether the address is on the device, and whether
// swarmdns put it there.
func (b *Binding) present() (present, ours bool, err error) {
	family := netlink.FAMILY_V4
	if b.addr.IP.To4() == nil {
		family = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(b.link, family)
	if err != nil {
		return false, false, fmt.Errorf("node-local address: list addresses of %s: %w", b.link.Attrs().Name, err)
	}
	for _, a := range addrs {
		if a.IP.Equal(b.addr.IP) {
			return true, b.addr.Label != "" && a.Label == b.addr.Label, nil
		}
	}
	return false, false, nil
}

// Owned reports whether Release removes the address: swarmdns added it.
func (b *Binding) Owned() bool { return b.owned }

// String is the address and its device, "169.254.53.53/32 on lo".
func (b *Binding) String() string {
	return b.addr.IPNet.String() + " on " + b.link.Attrs().Name
}

// Release removes the address if Bind added it; an address that is gone
// already is no error.
func (b *Binding) Release() error {
	if !b.owned {
		return nil
	}
	if err := netlink.AddrDel(b.link, b.addr); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove node-local address %s: %w", b, err)
	}
	b.owned = false
	return nil
}

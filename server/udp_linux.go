package server

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux each read loop owns a blocking socket, all bound to the same
// address with SO_REUSEPORT so the kernel spreads clients over them, and
// moves datagrams in batches: recvmmsg waits for one and takes every query
// already queued, sendmmsg sends all their replies. A loop costs one wake-up
// and two system calls per batch, not a netpoller round trip and two system
// calls per query.
//
// To the Go scheduler a loop is one goroutine that never parks: it goes
// from recvmmsg to sendmmsg and back on the P it started on. Left alone,
// sysmon takes it for a goroutine that has run for 10 ms, preempts it and,
// finding it in recvmmsg, takes its P away; every such retake sets sysmon
// back to waking every 20 µs, so at 15k queries a second sysmon woke
// thousands of times a second and cost a fifth of the server's CPU. A busy
// loop therefore yields now and then (see yielder), which the scheduler
// counts as a new time slice, and Start leaves one P without a loop.
//
// A socket on a wildcard address (":53", "0.0.0.0:53", "[::]:53") asks the
// kernel for each datagram's destination (IP_PKTINFO, IPV6_RECVPKTINFO) and
// sends the reply from it (IP_PKTINFO, IPV6_PKTINFO): left to itself the
// kernel picks the source by the route back to the client, which on a node
// with more than one address (a node-local address on lo, a secondary
// address) is not always the address asked, and the client drops a reply
// from another address. Each batch slot has its control buffers, so this
// allocates nothing either.

// batchSize is the most datagrams one recvmmsg takes.
const batchSize = 32

// A busy loop yields every yieldEvery: often enough that sysmon's 10 ms
// never run out while queries come. A batch that comes after a wait of
// yieldEvery or more never yields: a loop that waits that long is not busy
// but blocked in recvmmsg, like any other system call, and there a yield
// only adds a thread wake-up to every query.
const yieldEvery = 5 * time.Millisecond

// yielder decides when a read loop yields.
type yielder struct {
	elapsed func() time.Duration // since the loop started
	last    time.Duration        // elapsed at the last batch
	yielded time.Duration        // elapsed at the last yield
}

func newYielder() yielder {
	start := time.Now()
	return yielder{elapsed: func() time.Duration { return time.Since(start) }}
}

// due notes one batch served and reports whether the loop should yield now.
func (y *yielder) due() bool {
	now := y.elapsed()
	waited := now - y.last
	y.last = now
	if waited >= yieldEvery || now-y.yielded < yieldEvery {
		return false
	}
	y.yielded = now
	return true
}

// mmsghdr is struct mmsghdr, which x/sys/unix does not define.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// batchUDP is one blocking socket. os.File holds its descriptor so that
// close never races a loop blocked in recvmmsg or a forwarded reply.
type batchUDP struct {
	family int // AF_INET or AF_INET6
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

// listenUDP binds readers sockets to addr. A probe bind without
// SO_REUSEPORT first makes sure the port is free, as a plain bind would:
// another process must not be able to join the group.
func listenUDP(addr *net.UDPAddr, readers int) ([]udpConn, net.Addr, error) {
	sa, family := sockaddrOf(addr)
	probe, err := bindUDP(family, sa, false)
	if err != nil && family == unix.AF_INET6 && addr.IP == nil {
		// No IPv6 here: a wildcard address falls back to IPv4 only.
		sa, family = &unix.SockaddrInet4{Port: addr.Port}, unix.AF_INET
		probe, err = bindUDP(family, sa, false)
	}
	if err != nil {
		return nil, nil, err
	}
	bound, err := unix.Getsockname(probe)
	unix.Close(probe)
	if err != nil {
		return nil, nil, fmt.Errorf("getsockname: %w", err)
	}
	conns := make([]udpConn, 0, readers)
	fail := func(err error) ([]udpConn, net.Addr, error) {
		for _, c := range conns {
			c.close()
		}
		return nil, nil, err
	}
	for i := 0; i < readers; i++ {
		fd, err := bindUDP(family, bound, true)
		if err != nil {
			return fail(err)
		}
		f := os.NewFile(uintptr(fd), "udp")
		rc, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return fail(err)
		}
		conns = append(conns, &batchUDP{family: family, f: f, rc: rc})
	}
	return conns, udpAddrFromSockaddr(bound), nil
}

func sockaddrOf(addr *net.UDPAddr) (unix.Sockaddr, int) {
	if ip4 := addr.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: addr.Port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To16())
	if addr.Zone != "" {
		if ifi, err := net.InterfaceByName(addr.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6
}

// bindUDP returns a bound blocking UDP socket. An IPv6 wildcard socket
// takes IPv4 clients too, as Go's own listener does. A wildcard socket
// reports each datagram's destination: on an IPv6 one, that of an IPv4
// client too (as ::ffff:a.b.c.d).
func bindUDP(family int, sa unix.Sockaddr, reusePort bool) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	opts := [][3]int{}
	if family == unix.AF_INET6 {
		opts = append(opts, [3]int{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0})
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		if a.Addr == [4]byte{} {
			opts = append(opts, [3]int{unix.IPPROTO_IP, unix.IP_PKTINFO, 1})
		}
	case *unix.SockaddrInet6:
		if a.Addr == [16]byte{} {
			opts = append(opts, [3]int{unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1})
		}
	}
	if reusePort {
		opts = append(opts, [3]int{unix.SOL_SOCKET, unix.SO_REUSEPORT, 1})
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setsockopt: %w", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	return fd, nil
}

func udpAddrFromSockaddr(sa unix.Sockaddr) *net.UDPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.UDPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.UDPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return nil
}

// batch is one read loop's buffers: the queries, the clients' addresses,
// the queries' destinations (on a wildcard socket) and the replies, with
// the headers recvmmsg and sendmmsg read.
type batch struct {
	in    [batchSize]mmsghdr
	inIov [batchSize]unix.Iovec
	names [batchSize]unix.RawSockaddrInet6 // large enough for either family
	ctl   [batchSize]ctlBuf
	bufs  [batchSize][]byte
	out   [batchSize]mmsghdr
	oIov  [batchSize]unix.Iovec
	octl  [batchSize]ctlBuf
	outs  [batchSize][]byte

	// recv and send are the system calls, made once per loop rather than
	// as closures per batch (which would escape, and allocate); they leave
	// their result in n and errno, and send sends count from from.
	recv, send  func(fd uintptr) bool
	n           int
	errno       syscall.Errno
	from, count int
}

func newBatch() *batch {
	b := &batch{}
	for i := range b.in {
		b.bufs[i] = make([]byte, 65535)
		b.outs[i] = make([]byte, 0, 4096)
		b.inIov[i].Base = &b.bufs[i][0]
		b.in[i].hdr.Iov = &b.inIov[i]
		b.in[i].hdr.SetIovlen(1)
		b.in[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.in[i].hdr.Control = (*byte)(unsafe.Pointer(&b.ctl[i]))
		b.out[i].hdr.Iov = &b.oIov[i]
		b.out[i].hdr.SetIovlen(1)
	}
	b.recv = func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), batchSize, unix.MSG_WAITFORONE, 0, 0)
		b.n, b.errno = int(r), e
		return true
	}
	b.send = func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[b.from])), uintptr(b.count), 0, 0, 0)
		b.n, b.errno = int(r), e
		return true
	}
	return b
}

func (u *batchUDP) serve(s *Server) {
	b := newBatch()
	sc := newScratch()
	y := newYielder()
	for {
		for i := range b.in {
			b.inIov[i].SetLen(len(b.bufs[i]))
			b.in[i].hdr.Namelen = uint32(unsafe.Sizeof(b.names[i]))
			b.in[i].hdr.SetControllen(int(unsafe.Sizeof(b.ctl[i])))
			b.in[i].hdr.Flags = 0
		}
		err := u.rc.Read(b.recv)
		switch {
		case err != nil || u.closed.Load():
			return
		case b.errno == unix.EINTR || b.errno == unix.EAGAIN || b.errno == unix.ENOMEM || b.errno == unix.ENOBUFS:
			continue
		case b.errno != 0 || b.n == 0: // shut down by wake, or the socket failed
			return
		}
		k := 0
		for i := 0; i < b.n; i++ {
			client, ok := addrPortOf(&b.names[i], b.in[i].hdr.Namelen)
			if !ok {
				continue
			}
			local := localOf(&b.ctl[i], int(b.in[i].hdr.Controllen))
			sc.out = b.outs[i][:0]
			out := s.serveDatagram(u, b.bufs[i][:b.in[i].len], client, local, sc)
			if out == nil {
				continue
			}
			b.outs[i] = out[:0] // keep a buffer answer had to grow
			b.oIov[k].Base = unsafe.SliceData(out)
			b.oIov[k].SetLen(len(out))
			b.out[k].hdr.Name = b.in[i].hdr.Name
			b.out[k].hdr.Namelen = b.in[i].hdr.Namelen
			if n := putSource(&b.octl[k], u.family, local); n > 0 {
				b.out[k].hdr.Control = (*byte)(unsafe.Pointer(&b.octl[k]))
				b.out[k].hdr.SetControllen(n)
			} else {
				b.out[k].hdr.Control = nil
				b.out[k].hdr.SetControllen(0)
			}
			k++
		}
		u.send(b, k)
		if y.due() {
			runtime.Gosched()
		}
	}
}

// send sends the first k replies of b; a reply the kernel refuses (the
// client's address is unreachable) is dropped, as a lost datagram.
func (u *batchUDP) send(b *batch, k int) {
	for b.from, b.count = 0, k; b.from < k; b.count = k - b.from {
		if err := u.rc.Write(b.send); err != nil {
			return
		}
		switch {
		case b.errno == unix.EINTR:
		case b.errno != 0 || b.n == 0:
			b.from++ // skip the reply that failed
		default:
			b.from += b.n
		}
	}
}

// addrPortOf reads a client address written by recvmmsg. An IPv4 client
// of a dual-stack socket comes as ::ffff:a.b.c.d, as from Go's listener.
func addrPortOf(rsa *unix.RawSockaddrInet6, n uint32) (netip.AddrPort, bool) {
	switch rsa.Family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}, false
		}
		a4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(a4.Addr), ntohs(a4.Port)), true
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom16(rsa.Addr), ntohs(rsa.Port)), true
	}
	return netip.AddrPort{}, false
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// ctlBuf holds the control messages of one datagram, aligned as struct
// cmsghdr: the destination recvmmsg reports, or the source to send from.
// 64 bytes hold one IPv4 or IPv6 packet-info message.
type ctlBuf [8]uint64

// localOf returns the destination address of a datagram from the n bytes
// of control messages recvmmsg wrote to c: the address to answer from.
// Without one (a socket on one address) it is invalid.
func localOf(c *ctlBuf, n int) netip.Addr {
	base := unsafe.Pointer(c)
	n = min(n, int(unsafe.Sizeof(*c)))
	for off := 0; off+unix.SizeofCmsghdr <= n; {
		h := (*unix.Cmsghdr)(unsafe.Add(base, off))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || off+l > n {
			break
		}
		data, dlen := unsafe.Add(base, off+unix.CmsgLen(0)), l-unix.CmsgLen(0)
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && dlen >= unix.SizeofInet4Pktinfo:
			// ipi_spec_dst: the destination, or for a broadcast the
			// address of the interface it came in on.
			return netip.AddrFrom4((*unix.Inet4Pktinfo)(data).Spec_dst)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && dlen >= unix.SizeofInet6Pktinfo:
			return netip.AddrFrom16((*unix.Inet6Pktinfo)(data).Addr)
		}
		off += unix.CmsgSpace(dlen)
	}
	return netip.Addr{}
}

// putSource writes into c the control message that sends a datagram on a
// socket of family from local, and returns its length: 0 (send from the
// address the kernel picks) when local is invalid, unspecified, multicast
// or of the other family. The interface is left to the route back to the
// client (a link-local client's comes with its address), as it would be
// without the message.
func putSource(c *ctlBuf, family int, local netip.Addr) int {
	if !local.IsValid() || local.IsUnspecified() || local.IsMulticast() {
		return 0
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(c))
	data := unsafe.Add(unsafe.Pointer(c), unix.CmsgLen(0))
	switch {
	case family == unix.AF_INET && local.Is4():
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		*(*unix.Inet4Pktinfo)(data) = unix.Inet4Pktinfo{Spec_dst: local.As4()}
		return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	case family == unix.AF_INET6 && !local.Is4():
		// An IPv4 client's destination, ::ffff:a.b.c.d, goes back
		// as it came: the kernel sends from a.b.c.d.
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		*(*unix.Inet6Pktinfo)(data) = unix.Inet6Pktinfo{Addr: local.As16()}
		return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	}
	return 0
}

func (u *batchUDP) writeTo(b []byte, to netip.AddrPort, local netip.Addr) {
	var sa unix.Sockaddr
	if a := to.Addr(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: a.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: a.As16()}
	}
	c := new(ctlBuf)
	oob := unsafe.Slice((*byte)(unsafe.Pointer(c)), putSource(c, u.family, local))
	u.rc.Write(func(fd uintptr) bool {
		unix.SendmsgN(int(fd), b, oob, sa, 0)
		return true
	})
}

// wake shuts the socket down for reading, which returns a blocked
// recvmmsg (with empty messages).
func (u *batchUDP) wake() {
	u.closed.Store(true)
	u.rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RD) })
}

func (u *batchUDP) close() { u.f.Close() }

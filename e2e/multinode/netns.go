//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ListenPacket opens a UDP socket on addr (host:port) inside the node's
// network namespace, as a server running on that node would. A socket
// keeps the namespace it was made in, so only the socket call runs on a
// thread moved into the namespace.
func (n *Node) ListenPacket(addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := inNetns(n.Netns, func() error {
		var err error
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, n, err)
	}
	return pc, nil
}

// inNetns runs f on an OS thread that is in the network namespace at path
// for the duration of f.
func inNetns(path string, f func() error) error {
	done := make(chan error, 1)
	go func() {
		// The thread stays locked, and dies with the goroutine, unless it
		// is back in its own namespace.
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			return
		}
		defer self.Close()
		target, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		err = f()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// ContainerNetns is the network namespace of process pid (a container's
// first process: ContainerPID), for DialIn, ListenIn and Resolver.
func ContainerNetns(pid int) string { return fmt.Sprintf("/proc/%d/ns/net", pid) }

// ListenIn opens a listener (tcp) on addr inside the network namespace at
// path: a server on that node or in that container.
func ListenIn(path, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(path, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s in %s: %w", network, addr, path, err)
	}
	return ln, nil
}

// DialIn returns a dial function whose connections leave from inside the
// network namespace at path: a client on that node or in that container.
func DialIn(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(path, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("dial %s %s from %s: %w", network, addr, path, err)
		}
		return c, nil
	}
}

// FreePort returns a TCP port nothing listens on in the node's network
// namespace on 127.0.0.1 and on its address, for a server started there
// next.
func (n *Node) FreePort() (int, error) {
	ln, err := ListenIn(n.Netns, "tcp", ":0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

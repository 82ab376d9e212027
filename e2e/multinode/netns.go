//go:build multinode

package multinode

import (
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

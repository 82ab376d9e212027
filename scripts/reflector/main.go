// Command reflector is the wire ceiling of the benchmarks: it answers every
// UDP datagram with itself, QR bit set, ANCOUNT 1, and one fixed A record
// appended (owner: a pointer to the question). It parses nothing (an EDNS
// query's OPT record is cut by its fixed length), so it
// costs what a read, a copy and a write of a UDP reply cost.
//
// Usage: reflector -listen 127.0.0.1:5300
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
)

const optLen = 11

// answer is 127.0.0.1, TTL 5, owned by the question name at offset 12.
var answer = []byte{0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 0, 0, 1}

func main() {
	listen := flag.String("listen", "127.0.0.1:5300", "UDP address to answer on")
	flag.Parse()
	addr, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reflector:", err)
		os.Exit(1)
	}
	c, err := net.ListenUDP("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reflector:", err)
		os.Exit(1)
	}
	buf := make([]byte, 4096)
	for {
		n, client, err := c.ReadFromUDPAddrPort(buf[:4096-len(answer)])
		if err != nil || n < 12 {
			continue
		}
		// An EDNS query ends in its 11-byte root OPT record: cut it, so the
		// answer follows the question, and count no additional records.
		end := n
		if buf[11] == 1 && n >= 12+5+optLen {
			end -= optLen
		}
		buf[2] |= 0x80
		buf[6], buf[7] = 0, 1
		buf[10], buf[11] = 0, 0
		out := append(buf[:end], answer...)
		c.WriteToUDPAddrPort(out, client)
	}
}

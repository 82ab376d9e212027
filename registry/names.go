package registry

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Name forms, bare (relative to the zone), as docs/names.md lists them,
// are made in the builder's scratch by the appendX functions below, lower
// case and without a trailing dot; the service, alias and network names
// they join are lower case already.

// appendTaskKey appends Docker's name of a task's container:
// <svc>.<slot>.<taskid>, or <svc>.<nodeid>.<taskid> for a global
// service's task.
func appendTaskKey(b []byte, svc string, t *Task) []byte {
	b = append(b, svc...)
	b = append(b, '.')
	if t.Slot > 0 {
		b = strconv.AppendInt(b, int64(t.Slot), 10)
	} else {
		b = appendLower(b, t.NodeID)
	}
	b = append(b, '.')
	return appendLower(b, t.ID)
}

// appendSlotKey appends <slot>.<svc>.
func appendSlotKey(b []byte, slot int, svc string) []byte {
	b = strconv.AppendInt(b, int64(slot), 10)
	return append(append(b, '.'), svc...)
}

// appendReverse appends the reverse name of a without the trailing dot
// ("4.3.2.1.in-addr.arpa"), as dns.ReverseAddr gives it.
func appendReverse(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		for i := 3; i >= 0; i-- {
			b = strconv.AppendUint(b, uint64(v[i]), 10)
			b = append(b, '.')
		}
		return append(b, "in-addr.arpa"...)
	}
	const hex = "0123456789abcdef"
	v := a.As16()
	for i := 15; i >= 0; i-- {
		b = append(b, hex[v[i]&0xF], '.', hex[v[i]>>4], '.')
	}
	return append(b, "ip6.arpa"...)
}

// lastLabel is the last label of a key: the task ID of a task's name.
func lastLabel(key []byte) []byte {
	return key[bytes.LastIndexByte(key, '.')+1:]
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// srvLabels is the start of a port's SRV name, _<port>._<proto>.
func srvLabels(p Port) string { return "_" + portName(p) + "._" + strings.ToLower(p.Protocol) }

// normalizeDomain returns the zone as a lower-case FQDN ("swarm.internal.").
func normalizeDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", fmt.Errorf("empty domain")
	}
	for _, l := range strings.Split(d, ".") {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("domain %q: %w", d, err)
		}
	}
	return d + ".", nil
}

// checkName reports whether a bare name can be served: labels of 1 to 63
// bytes with no dots or control characters inside, 253 bytes at most.
func checkName(n string) error {
	if len(n) > 253 {
		return fmt.Errorf("name %q longer than 253 bytes", n)
	}
	for _, l := range strings.Split(n, ".") {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("name %q: %w", n, err)
		}
	}
	return nil
}

func checkLabel(l string) error {
	if l == "" {
		return fmt.Errorf("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q longer than 63 bytes", l)
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; c <= ' ' || c >= 0x7f || c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$' {
			return fmt.Errorf("label %q has character %q", l, c)
		}
	}
	return nil
}

// ParsePorts reads the swarmdns.ports label: "http:8080/tcp,grpc:9090/tcp".
// The protocol defaults to tcp; a port without a name is named by its number.
func ParsePorts(label string) ([]Port, error) {
	var ports []Port
	for _, item := range strings.Split(label, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p := Port{Protocol: "tcp"}
		spec := item
		if name, rest, ok := strings.Cut(item, ":"); ok {
			p.Name, spec = strings.ToLower(name), rest
		}
		num, proto, ok := strings.Cut(spec, "/")
		if ok {
			p.Protocol = strings.ToLower(proto)
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("port %q: want name:number/protocol", item)
		}
		p.Target = uint16(n)
		if err := checkPort(p); err != nil {
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

func checkPort(p Port) error {
	switch p.Protocol {
	case "tcp", "udp", "sctp":
	default:
		return fmt.Errorf("port %d: protocol %q is not tcp, udp or sctp", p.Target, p.Protocol)
	}
	if p.Name != "" {
		if err := checkLabel(p.Name); err != nil {
			return fmt.Errorf("port name: %w", err)
		}
	}
	return nil
}

// portName is the SRV label of a port: its name, or its number.
func portName(p Port) string {
	if p.Name != "" {
		return strings.ToLower(p.Name)
	}
	return strconv.Itoa(int(p.Target))
}

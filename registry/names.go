package registry

import (
	"fmt"
	"strconv"
	"strings"
)

// Name forms, bare (relative to the zone), as docs/names.md lists them.
// Every function returns a lower-case name without a trailing dot.

func tasksName(svc string) string             { return "tasks." + svc }
func networkName(name, network string) string { return name + "." + network }
func slotName(slot int, svc string) string    { return strconv.Itoa(slot) + "." + svc }

// taskName is Docker's name of a task's container: <svc>.<slot>.<taskid>,
// or <svc>.<nodeid>.<taskid> for a global service's task.
func taskName(svc string, t *Task) string {
	if t.Slot > 0 {
		return svc + "." + strconv.Itoa(t.Slot) + "." + strings.ToLower(t.ID)
	}
	return svc + "." + strings.ToLower(t.NodeID) + "." + strings.ToLower(t.ID)
}

// srvName is _<port>._<proto>.<name>.
func srvName(port, proto, name string) string { return "_" + port + "._" + proto + "." + name }

// normalizeDomain returns the zone as a lower-case FQDN ("swarm.local.").
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

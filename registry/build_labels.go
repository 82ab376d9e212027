package registry

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/swarmdns/swarmdns/scheduler"
)

// svcInfo is what the labels of one service say.
type svcInfo struct {
	svc     *Service
	name    string
	ttl     uint32
	policy  string
	pol     uint8 // policy's number in policyTable.asked
	weight  uint32
	tasksOn bool // the service name answers tasks
	ports   []Port
}

func (b *builder) warnf(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Errorf(format, args...))
}

// labels reads what a service's labels say; a bad value is a warning,
// and the default applies.
func (b *builder) labels(svc *Service) svcInfo {
	si := svcInfo{svc: svc, name: strings.ToLower(svc.Name), ttl: b.cfg.TTL, policy: b.cfg.Policy, weight: 1}
	si.tasksOn = svc.EndpointMode == ModeDNSRR
	if v, ok := svc.Labels[LabelResolve]; ok {
		switch v {
		case "tasks":
			si.tasksOn = true
		case "vip", "":
		default:
			b.warnf("service %s: label %s=%q: want tasks or vip", svc.Name, LabelResolve, v)
		}
	}
	if v, ok := svc.Labels[LabelTTL]; ok {
		if ttl, err := parseTTL(v); err == nil {
			si.ttl = ttl
		} else {
			b.warnf("service %s: label %s: %v", svc.Name, LabelTTL, err)
		}
	}
	if v, ok := svc.Labels[LabelScheduler]; ok {
		if _, err := b.policies.get(v); err == nil {
			si.policy = v
		} else {
			b.warnf("service %s: label %s: %v", svc.Name, LabelScheduler, err)
		}
	}
	if v, ok := svc.Labels[LabelWeight]; ok {
		w, err := parseWeight(v)
		if err != nil {
			b.warnf("service %s: label %s: %v", svc.Name, LabelWeight, err)
		}
		si.weight = w
	}
	si.ports = append(si.ports, svc.Ports...)
	if v, ok := svc.Labels[LabelPorts]; ok {
		named, err := ParsePorts(v)
		if err != nil {
			b.warnf("service %s: label %s: %v", svc.Name, LabelPorts, err)
		}
		si.ports = mergePorts(si.ports, named)
	}
	si.pol = b.policies.ask(si.policy)
	return si
}

// parseTTL reads a swarmdns.ttl value in seconds.
func parseTTL(v string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 31)
	if err != nil {
		return 0, fmt.Errorf("ttl %q: want seconds", v)
	}
	return uint32(n), nil
}

// parseWeight reads a swarmdns.weight value; a bad one counts as 1.
func parseWeight(v string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
	if err != nil {
		return 1, fmt.Errorf("weight %q: want an integer from 0 to 65535", v)
	}
	return uint32(n), nil
}

// mergePorts names the ports of the endpoint from the label, and adds the
// label's ports the endpoint does not have.
func mergePorts(ports, named []Port) []Port {
	for _, n := range named {
		found := false
		for i := range ports {
			if ports[i].Target == n.Target && strings.EqualFold(ports[i].Protocol, n.Protocol) {
				ports[i].Name, found = n.Name, true
			}
		}
		if !found {
			ports = append(ports, n)
		}
	}
	return ports
}

// policyTable is every scheduler policy a build meets. Collectors number
// the names they ask for (a label's, or the default); sets number the
// policies' own names, as the snapshot's table.policies lists them. Every
// name is looked up as it is asked, so packing only reads the table.
type policyTable struct {
	lookup      func(name string) (scheduler.Policy, error) // Config.Policies
	defaultName string                                      // Config.Policy
	byName      map[string]scheduler.Policy                 // looked up, by the name asked
	number      map[string]uint8                            // a policy's own name → its number in names
	names       []string                                    // the policies' own names, by number
	asked       []string                                    // the names collectors ask for, by collector.pol
	resolved    []resolvedPolicy                            // asked, looked up
}

// resolvedPolicy is a policy name, looked up.
type resolvedPolicy struct {
	name   string // the policy's own name, as sets record it
	policy scheduler.Policy
	idx    uint8 // in policyTable.names
}

// get looks a policy up by name.
func (t *policyTable) get(name string) (scheduler.Policy, error) {
	if p, ok := t.byName[name]; ok {
		return p, nil
	}
	p, err := t.lookup(name)
	if err != nil {
		return nil, err
	}
	t.byName[name] = p
	return p, nil
}

// ask returns the number of a policy name in asked, adding it.
func (t *policyTable) ask(name string) uint8 {
	for i, n := range t.asked {
		if n == name {
			return uint8(i)
		}
	}
	t.asked = append(t.asked, name)
	t.resolved = append(t.resolved, t.resolve(name))
	return uint8(len(t.asked) - 1)
}

// resolve looks a policy name up: an unknown one is the default policy.
func (t *policyTable) resolve(name string) resolvedPolicy {
	p, err := t.get(name)
	if err != nil {
		p, _ = t.get(t.defaultName)
	}
	x := t.numberOf(p.Name())
	return resolvedPolicy{name: t.names[x], policy: p, idx: x}
}

// numberOf returns the number of a policy's own name, adding it.
func (t *policyTable) numberOf(name string) uint8 {
	if i, ok := t.number[name]; ok {
		return i
	}
	i := uint8(len(t.names))
	t.names = append(t.names, name)
	t.number[name] = i
	return i
}

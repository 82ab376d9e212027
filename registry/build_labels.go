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
	pol     uint8 // index of policy in builder.polNames
	weight  uint32
	tasksOn bool // the service name answers tasks
	ports   []Port
}

func (b *builder) warnf(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Errorf(format, args...))
}

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
		if _, err := b.policy(v); err == nil {
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
	si.pol = b.polName(si.policy)
	return si
}

// polName returns the index of a policy name in builder.polNames.
func (b *builder) polName(name string) uint8 {
	for i, n := range b.polNames {
		if n == name {
			return uint8(i)
		}
	}
	b.polNames = append(b.polNames, name)
	b.resolved = append(b.resolved, b.resolve(name))
	return uint8(len(b.polNames) - 1)
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

func (b *builder) policy(name string) (scheduler.Policy, error) {
	if p, ok := b.policies[name]; ok {
		return p, nil
	}
	p, err := b.cfg.Policies(name)
	if err != nil {
		return nil, err
	}
	b.policies[name] = p
	return p, nil
}

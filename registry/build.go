package registry

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/scheduler"
)

// Config is what a snapshot build needs besides the data.
type Config struct {
	Domain string // the zone, e.g. "swarm.local."
	TTL    uint32 // default record TTL (label swarmdns.ttl overrides)
	// Policy is the default scheduler name (label swarmdns.scheduler overrides).
	Policy string
	// MaxAnswers cuts A, AAAA and SRV answers to this many records (0: all).
	MaxAnswers int
	// PreferLocal answers tasks on Data.LocalNode before the others.
	PreferLocal bool
	// Networks restricts the default view (clients with no network
	// context) to these networks, by name or ID; empty means every network.
	Networks []string
	// Policies looks a scheduler up by name; nil means scheduler.Lookup.
	Policies func(name string) (scheduler.Policy, error)
}

// Check validates the configuration and normalizes the domain.
func (c *Config) Check() error {
	d, err := normalizeDomain(c.Domain)
	if err != nil {
		return err
	}
	c.Domain = d
	if c.Policies == nil {
		c.Policies = scheduler.Lookup
	}
	if c.Policy == "" {
		c.Policy = scheduler.RoundRobin
	}
	if _, err := c.Policies(c.Policy); err != nil {
		return err
	}
	if c.MaxAnswers < 0 {
		return fmt.Errorf("max answers %d is negative", c.MaxAnswers)
	}
	return nil
}

// Build makes a snapshot of d. prev, if not nil, is the snapshot it
// replaces: an RRSet whose records, weights and policy are unchanged keeps
// prev's rotation state. Problems in the data (a bad label value) do not
// fail the build; they are returned as warnings and the default applies.
func Build(d *Data, cfg Config, prev *Snapshot) (*Snapshot, []error) {
	b := &builder{
		cfg:      cfg,
		data:     d,
		names:    make(map[string]*nameB),
		nets:     make(map[string]*Network, len(d.Networks)),
		nodes:    make(map[string]*Node, len(d.Nodes)),
		tasks:    make(map[string][]*Task),
		policies: make(map[string]scheduler.Policy),
	}
	for i := range d.Networks {
		b.nets[d.Networks[i].ID] = &d.Networks[i]
	}
	for i := range d.Nodes {
		b.nodes[d.Nodes[i].ID] = &d.Nodes[i]
	}
	for i := range d.Tasks {
		t := &d.Tasks[i]
		if t.State == TaskRunning {
			b.tasks[t.ServiceID] = append(b.tasks[t.ServiceID], t)
		}
	}
	b.defaultNets = b.resolveNetworks(cfg.Networks)
	s := &Snapshot{Domain: cfg.Domain, Built: time.Now(), Data: d}
	s.Serial = uint32(s.Built.Unix())
	if prev != nil && s.Serial <= prev.Serial {
		s.Serial = prev.Serial + 1
	}
	svcs := make([]*Service, len(d.Services))
	for i := range d.Services {
		svcs[i] = &d.Services[i]
	}
	// Merged names take their TTL and policy from the first service by name.
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	for _, svc := range svcs {
		b.service(svc)
	}
	b.snapshotNames(s, prev)
	b.clients(s)
	s.stats = Stats{Services: len(d.Services), Names: len(s.names)}
	for _, ts := range b.tasks {
		s.stats.Tasks += len(ts)
	}
	return s, b.warnings
}

type builder struct {
	cfg         Config
	data        *Data
	names       map[string]*nameB
	nets        map[string]*Network
	nodes       map[string]*Node
	tasks       map[string][]*Task
	policies    map[string]scheduler.Policy
	defaultNets map[string]bool // nil: every network
	warnings    []error
}

// nameB collects the records of one name while building, by view.
type nameB struct {
	views   map[string]*setB // "" is the default view
	reverse bool
}

type setB struct {
	addrs  []addrRec
	srvs   []srvRec
	ptrs   []string
	ttl    uint32
	policy string
}

type addrRec struct {
	addr   netip.Addr
	weight uint32
	local  bool
	info   string
}

type srvRec struct {
	target string // FQDN
	port   uint16
	weight uint32
	local  bool
	info   string
	glue   []netip.Addr
}

// svcInfo is what the labels of one service say.
type svcInfo struct {
	svc     *Service
	name    string
	ttl     uint32
	policy  string
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

func (b *builder) nodeWeight(id string) uint32 {
	n := b.nodes[id]
	if n == nil {
		return 1
	}
	v, ok := n.Labels[LabelWeight]
	if !ok {
		return 1
	}
	w, err := parseWeight(v)
	if err != nil {
		b.warnf("node %s: label %s: %v", n.Hostname, LabelWeight, err)
	}
	return w
}

// resolveNetworks turns network names or IDs into a set of IDs.
func (b *builder) resolveNetworks(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	set := make(map[string]bool)
	for _, want := range list {
		for _, n := range b.data.Networks {
			if n.ID == want || strings.EqualFold(n.Name, want) {
				set[n.ID] = true
			}
		}
	}
	return set
}

func (b *builder) inDefault(network string) bool {
	return b.defaultNets == nil || b.defaultNets[network]
}

// netName is the lower-case name of a network, or "" for an unknown or
// ingress network, which gets no names.
func (b *builder) netName(id string) string {
	n := b.nets[id]
	if n == nil || n.Ingress {
		return ""
	}
	return strings.ToLower(n.Name)
}

func (b *builder) ingress(id string) bool {
	n := b.nets[id]
	return n != nil && n.Ingress
}

// set returns the record collector of name in view (network ID, "" for
// the default view), creating it with si's TTL and policy.
func (b *builder) set(name, view string, si *svcInfo) *setB {
	n := b.names[name]
	if n == nil {
		n = &nameB{views: make(map[string]*setB, 2)}
		b.names[name] = n
	}
	s := n.views[view]
	if s == nil {
		s = &setB{ttl: si.ttl, policy: si.policy}
		n.views[view] = s
	} else if si.ttl < s.ttl {
		s.ttl = si.ttl // one RRset, one TTL: the smallest (RFC 2181)
	}
	return s
}

// addAddrs adds address records to name in the view of network and, when
// the network belongs to it, the default view. The ".<network>" forms pass
// scoped=true: they have the one view only.
func (b *builder) addAddrs(name, network string, scoped bool, si *svcInfo, recs []addrRec) {
	if len(recs) == 0 {
		return
	}
	if scoped {
		s := b.set(name, "", si)
		s.addrs = append(s.addrs, recs...)
		return
	}
	s := b.set(name, network, si)
	s.addrs = append(s.addrs, recs...)
	if b.inDefault(network) {
		s := b.set(name, "", si)
		s.addrs = append(s.addrs, recs...)
	}
}

func (b *builder) addSRV(name, network string, scoped bool, si *svcInfo, recs []srvRec) {
	if len(recs) == 0 {
		return
	}
	if scoped {
		s := b.set(name, "", si)
		s.srvs = append(s.srvs, recs...)
		return
	}
	s := b.set(name, network, si)
	s.srvs = append(s.srvs, recs...)
	if b.inDefault(network) {
		s := b.set(name, "", si)
		s.srvs = append(s.srvs, recs...)
	}
}

func (b *builder) service(svc *Service) {
	si := b.labels(svc)
	if err := checkName(si.name); err != nil {
		b.warnf("service %s: %v; not served", svc.Name, err)
		return
	}
	tasks := b.tasks[svc.ID]
	local := func(t *Task) bool {
		return b.cfg.PreferLocal && b.data.LocalNode != "" && t.NodeID == b.data.LocalNode
	}
	// The networks this service is named on: its attachments and VIPs.
	var networks []string
	seen := map[string]bool{}
	addNet := func(id string) {
		if !seen[id] && !b.ingress(id) {
			seen[id] = true
			networks = append(networks, id)
		}
	}
	for _, a := range svc.Networks {
		addNet(a.Network)
	}
	vipNets := make([]string, 0, len(svc.VirtualIPs))
	for id := range svc.VirtualIPs {
		vipNets = append(vipNets, id)
	}
	sort.Strings(vipNets)
	for _, id := range vipNets {
		addNet(id)
	}
	for _, t := range tasks {
		ids := make([]string, 0, len(t.Addresses))
		for id := range t.Addresses {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			addNet(id)
		}
	}
	aliases := map[string][]string{}
	for _, a := range svc.Networks {
		for _, al := range a.Aliases {
			al = strings.ToLower(al)
			if err := checkName(al); err != nil {
				b.warnf("service %s: alias: %v; not served", svc.Name, err)
				continue
			}
			if al != si.name {
				aliases[a.Network] = append(aliases[a.Network], al)
			}
		}
	}

	taskNames := make(map[*Task]string, len(tasks))
	for _, t := range tasks {
		taskNames[t] = taskName(si.name, t)
	}
	firstPort := uint16(0)
	if len(si.ports) > 0 {
		firstPort = si.ports[0].Target
	}

	for _, net := range networks {
		nn := b.netName(net)
		var taskRecs []addrRec
		var vipRecs []addrRec
		for _, t := range tasks {
			w := si.weight * b.nodeWeight(t.NodeID)
			for _, a := range t.Addresses[net] {
				taskRecs = append(taskRecs, addrRec{addr: a.Unmap(), weight: w, local: local(t), info: t.ID})
			}
		}
		if vip, ok := svc.VirtualIPs[net]; ok && vip.IsValid() {
			vipRecs = []addrRec{{addr: vip.Unmap(), weight: max(si.weight, 1), info: "vip"}}
		}
		svcRecs := vipRecs
		if si.tasksOn {
			svcRecs = taskRecs
		}
		names := []string{si.name}
		names = append(names, aliases[net]...)
		for _, name := range names {
			b.addAddrs(name, net, false, &si, svcRecs)
			b.addAddrs(tasksName(name), net, false, &si, taskRecs)
			if nn != "" {
				b.addAddrs(networkName(name, nn), net, true, &si, svcRecs)
				b.addAddrs(networkName(tasksName(name), nn), net, true, &si, taskRecs)
			}
		}
		// Each task by name and by slot, and the reverse of its addresses.
		for _, t := range tasks {
			var recs []addrRec
			w := si.weight * b.nodeWeight(t.NodeID)
			for _, a := range t.Addresses[net] {
				recs = append(recs, addrRec{addr: a.Unmap(), weight: w, local: local(t), info: t.ID})
			}
			if len(recs) == 0 {
				continue
			}
			tn := taskNames[t]
			b.addAddrs(tn, net, false, &si, recs)
			if t.Slot > 0 {
				b.addAddrs(slotName(t.Slot, si.name), net, false, &si, recs)
			}
			if nn != "" {
				b.addAddrs(networkName(tn, nn), net, true, &si, recs)
				for _, r := range recs {
					b.addPTR(r.addr, networkName(tn, nn)+".", &si)
				}
			}
		}
		if nn != "" {
			for _, r := range vipRecs {
				b.addPTR(r.addr, networkName(si.name, nn)+".", &si)
			}
		}
		// SRV: per named port, and on the service and tasks names.
		srvFor := func(port uint16) []srvRec {
			var recs []srvRec
			for _, t := range tasks {
				glue := t.Addresses[net]
				if len(glue) == 0 {
					continue
				}
				recs = append(recs, srvRec{
					target: taskNames[t] + "." + b.cfg.Domain, port: port,
					weight: si.weight * b.nodeWeight(t.NodeID), local: local(t), info: t.ID, glue: glue,
				})
			}
			return recs
		}
		for _, name := range names {
			for _, p := range si.ports {
				b.addSRV(srvName(portName(p), strings.ToLower(p.Protocol), name), net, false, &si, srvFor(p.Target))
			}
			all := srvFor(firstPort)
			b.addSRV(name, net, false, &si, all)
			b.addSRV(tasksName(name), net, false, &si, all)
		}
	}
}

func (b *builder) addPTR(addr netip.Addr, target string, si *svcInfo) {
	rev, err := dns.ReverseAddr(addr.String())
	if err != nil {
		return
	}
	key := strings.TrimSuffix(rev, ".")
	s := b.set(key, "", si)
	b.names[key].reverse = true
	for _, p := range s.ptrs {
		if p == target {
			return
		}
	}
	s.ptrs = append(s.ptrs, target)
}

// snapshotNames packs every collected name into s.
func (b *builder) snapshotNames(s *Snapshot, prev *Snapshot) {
	s.names = make(map[string]*Name, len(b.names)*2)
	for key, nb := range b.names {
		n := &Name{}
		n.views = append(n.views, b.view(key, "", nb.views[""], prev))
		netViews := make([]string, 0, len(nb.views))
		for v := range nb.views {
			if v != "" {
				netViews = append(netViews, v)
			}
		}
		sort.Strings(netViews)
		for _, v := range netViews {
			view := b.view(key, v, nb.views[v], prev)
			if !sameView(&view, &n.views[0]) {
				n.views = append(n.views, view)
			}
		}
		s.names[key] = n
	}
	// Empty non-terminals exist (NODATA, not NXDOMAIN): "1.abc" under
	// "web.1.abc", "_tcp.web" under "_http._tcp.web".
	empty := &Name{views: []View{{}}}
	for key, nb := range b.names {
		if nb.reverse {
			continue
		}
		for rest := key; ; {
			_, after, ok := strings.Cut(rest, ".")
			if !ok {
				break
			}
			if _, exists := s.names[after]; !exists {
				s.names[after] = empty
			}
			rest = after
		}
	}
	b.apex(s)
}

func sameView(a, b *View) bool {
	same := func(x, y *RRSet) bool {
		return (x == nil) == (y == nil) && (x == nil || x.print == y.print)
	}
	return same(a.A, b.A) && same(a.AAAA, b.AAAA) && same(a.SRV, b.SRV) && same(a.PTR, b.PTR)
}

// view packs the records of one name in one view. A name that only has
// network views (a service outside the --network restriction) gets an
// empty default view.
func (b *builder) view(key, network string, sb *setB, prev *Snapshot) View {
	v := View{Network: network}
	if sb == nil {
		return v
	}
	var prevView *View
	if prev != nil {
		if pn := prev.names[key]; pn != nil {
			for i := range pn.views {
				if pn.views[i].Network == network {
					prevView = &pn.views[i]
				}
			}
		}
	}
	var v4, v6 []addrRec
	seen := make(map[netip.Addr]bool, len(sb.addrs))
	for _, r := range sb.addrs {
		if seen[r.addr] {
			continue
		}
		seen[r.addr] = true
		if r.addr.Is4() {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	v.A = b.addrSet(dns.TypeA, v4, sb, prevView)
	v.AAAA = b.addrSet(dns.TypeAAAA, v6, sb, prevView)
	v.SRV = b.srvSet(sb, prevView)
	if len(sb.ptrs) > 0 {
		rs := &RRSet{Type: dns.TypePTR, TTL: sb.ttl}
		for _, target := range sb.ptrs {
			rs.Records = append(rs.Records, packPTR(sb.ttl, target))
			rs.Weights = append(rs.Weights, 1)
			rs.Info = append(rs.Info, target)
		}
		b.finish(rs, sb.policy, 0, nil, prevView)
		v.PTR = rs
	}
	return v
}

func (b *builder) addrSet(t uint16, recs []addrRec, sb *setB, prevView *View) *RRSet {
	if len(recs) == 0 {
		return nil
	}
	rs := &RRSet{Type: t, TTL: sb.ttl}
	local := make([]bool, 0, len(recs))
	for _, r := range recs {
		rs.Records = append(rs.Records, packAddr(sb.ttl, r.addr))
		rs.Weights = append(rs.Weights, r.weight)
		rs.Info = append(rs.Info, r.info)
		local = append(local, r.local)
	}
	b.finish(rs, sb.policy, b.cfg.MaxAnswers, local, prevView)
	return rs
}

func (b *builder) srvSet(sb *setB, prevView *View) *RRSet {
	if len(sb.srvs) == 0 {
		return nil
	}
	rs := &RRSet{Type: dns.TypeSRV, TTL: sb.ttl}
	var local []bool
	seen := make(map[string]bool, len(sb.srvs))
	for _, r := range sb.srvs {
		k := r.target + "/" + strconv.Itoa(int(r.port))
		if seen[k] {
			continue
		}
		seen[k] = true
		prio := uint16(0)
		if r.local {
			prio = 0
		} else if b.cfg.PreferLocal && b.data.LocalNode != "" {
			prio = 1
		}
		rs.Records = append(rs.Records, packSRV(sb.ttl, prio, uint16(min(r.weight, 65535)), r.port, r.target))
		var glue []byte
		for _, a := range r.glue {
			glue = append(glue, packGlue(sb.ttl, r.target, a.Unmap())...)
		}
		rs.Extra = append(rs.Extra, glue)
		rs.ExtraCount = append(rs.ExtraCount, len(r.glue))
		rs.Weights = append(rs.Weights, r.weight)
		rs.Info = append(rs.Info, r.info)
		local = append(local, r.local)
	}
	b.finish(rs, sb.policy, b.cfg.MaxAnswers, local, prevView)
	return rs
}

// finish drains zero-weight records, compiles the scheduler and carries
// the rotation state over from the previous snapshot when nothing changed.
func (b *builder) finish(rs *RRSet, policyName string, limit int, local []bool, prevView *View) {
	anyWeight := false
	for _, w := range rs.Weights {
		anyWeight = anyWeight || w > 0
	}
	if anyWeight {
		// Weight 0 drains a record, unless nothing else is left.
		keep := 0
		for i, w := range rs.Weights {
			if w == 0 {
				continue
			}
			rs.Records[keep], rs.Weights[keep], rs.Info[keep] = rs.Records[i], w, rs.Info[i]
			if rs.Extra != nil {
				rs.Extra[keep], rs.ExtraCount[keep] = rs.Extra[i], rs.ExtraCount[i]
			}
			if local != nil {
				local[keep] = local[i]
			}
			keep++
		}
		rs.Records, rs.Weights, rs.Info = rs.Records[:keep], rs.Weights[:keep], rs.Info[:keep]
		if rs.Extra != nil {
			rs.Extra, rs.ExtraCount = rs.Extra[:keep], rs.ExtraCount[:keep]
		}
		if local != nil {
			local = local[:keep]
		}
	} else {
		for i := range rs.Weights {
			rs.Weights[i] = 1
		}
	}
	policy, err := b.policy(policyName)
	if err != nil {
		policy, _ = b.policy(b.cfg.Policy)
	}
	rs.policy, rs.limit = policy.Name(), limit
	rs.order = compileGroups(policy, rs.Weights, local)
	rs.print = fingerprint(rs, local)
	rs.state = new(scheduler.State)
	if prevView != nil {
		if p := prevView.Set(rs.Type); p != nil && p.print == rs.print {
			rs.state = p.state
		}
	}
}

// compileGroups compiles the policy over all records, or over the local
// and remote groups separately when some but not all records are local.
func compileGroups(policy scheduler.Policy, weights []uint32, local []bool) scheduler.Orderer {
	var li, ri []int
	var lw, rw []uint32
	for i, w := range weights {
		if local != nil && local[i] {
			li, lw = append(li, i), append(lw, w)
		} else {
			ri, rw = append(ri, i), append(rw, w)
		}
	}
	if len(li) == 0 || len(ri) == 0 {
		return policy.Compile(weights)
	}
	return scheduler.Grouped(
		scheduler.Group{Indices: li, Orderer: policy.Compile(lw)},
		scheduler.Group{Indices: ri, Orderer: policy.Compile(rw)},
	)
}

// fingerprint identifies an RRSet's content for rotation carry-over.
func fingerprint(rs *RRSet, local []bool) uint64 {
	h := uint64(14695981039346656037)
	mix := func(p []byte) {
		for _, c := range p {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	mix([]byte(rs.policy))
	for i, r := range rs.Records {
		mix(r)
		w := rs.Weights[i]
		mix([]byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)})
		if local != nil && local[i] {
			mix([]byte{1})
		}
	}
	return h
}

// apex builds the zone's SOA and NS.
func (b *builder) apex(s *Snapshot) {
	ns := "ns." + b.cfg.Domain
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: b.cfg.Domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: b.cfg.TTL},
		Ns:      ns,
		Mbox:    "hostmaster." + b.cfg.Domain,
		Serial:  s.Serial,
		Refresh: 3600, Retry: 600, Expire: 86400,
		Minttl: b.cfg.TTL,
	}
	nsRR := &dns.NS{Hdr: dns.RR_Header{Name: b.cfg.Domain, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: b.cfg.TTL}, Ns: ns}
	// The domain passed Config.Check, so these records always pack.
	s.soa, _ = packFull(soa)
	soaSet := &RRSet{Type: dns.TypeSOA, TTL: b.cfg.TTL, Records: [][]byte{packOwnerless(soa)}, Weights: []uint32{1}, Info: []string{"soa"}}
	b.finish(soaSet, scheduler.RoundRobin, 0, nil, nil)
	nsSet := &RRSet{Type: dns.TypeNS, TTL: b.cfg.TTL, Records: [][]byte{packOwnerless(nsRR)}, Weights: []uint32{1}, Info: []string{"ns"}}
	b.finish(nsSet, scheduler.RoundRobin, 0, nil, nil)
	s.apex = &Name{views: []View{{SOA: soaSet, NS: nsSet}}}
}

// clients indexes the subnets of the networks and the addresses of local
// containers, to find a client's networks.
func (b *builder) clients(s *Snapshot) {
	for _, n := range b.data.Networks {
		if n.Ingress {
			continue
		}
		for _, p := range n.Subnets {
			s.subnets = append(s.subnets, subnet{prefix: p.Masked(), nets: []string{n.ID}})
		}
	}
	// Longer prefixes first, so the most specific subnet wins.
	sort.SliceStable(s.subnets, func(i, j int) bool { return s.subnets[i].prefix.Bits() > s.subnets[j].prefix.Bits() })
	s.clients = make(map[netip.Addr][]string)
	for _, c := range b.data.Containers {
		var nets []string
		for _, id := range c.Networks {
			if !b.ingress(id) {
				nets = append(nets, id)
			}
		}
		if len(nets) == 0 {
			continue
		}
		for _, a := range c.Addresses {
			s.clients[a.Unmap()] = nets
		}
	}
}

package registry

import (
	"fmt"
	"net/netip"
	"slices"
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
		cfg:  cfg,
		data: d,
		// About nine names per task (task, slot, PTR, network forms and
		// the empty non-terminals under them): sized once, not regrown.
		names:    make(map[string]*Name, 9*len(d.Tasks)+8*len(d.Services)),
		nets:     make(map[string]*Network, len(d.Networks)),
		nodes:    make(map[string]*Node, len(d.Nodes)),
		tasks:    make(map[string][]*Task),
		policies: make(map[string]scheduler.Policy),
		single:   make(map[*addrRec]*RRSet, len(d.Tasks)+len(d.Services)),
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
	cfg  Config
	data *Data
	// names becomes the snapshot's: every name, with the empty
	// non-terminals added at the end.
	names       map[string]*Name
	nets        map[string]*Network
	nodes       map[string]*Node
	tasks       map[string][]*Task
	policies    map[string]scheduler.Policy
	defaultNets map[string]bool // nil: every network
	warnings    []error
	slab        slabs
	v4, v6      []addrRec // view's scratch
	local       []bool    // addrSet's and srvSet's scratch
	netViews    []viewB   // snapshotNames' scratch
	one         []uint32  // all 1, see ones
	// single is the packed RRSet of each one-record collector, by record.
	single map[*addrRec]*RRSet
	// order is every nameB in the order set made them, which is their
	// order in memory too: walking it beats walking the map.
	order []*nameB
}

// nameB collects the records of one name while building, by view.
type nameB struct {
	name    *Name
	key     string
	views   []viewB // "" is the default view; few per name
	reverse bool
}

type viewB struct {
	network string
	set     *setB
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

// nameB returns the collector of name, creating it.
func (b *builder) nameB(name string) *nameB {
	if n := b.names[name]; n != nil {
		return n.b
	}
	nb := b.slab.nameB()
	nb.key, nb.name = name, take(&b.slab.names)
	nb.name.b = nb
	b.names[name] = nb.name
	b.order = append(b.order, nb)
	return nb
}

// set returns the record collector of n in view (network ID, "" for the
// default view), creating it with si's TTL and policy.
func (b *builder) set(n *nameB, view string, si *svcInfo) *setB {
	var s *setB
	for i := range n.views {
		if n.views[i].network == view {
			s = n.views[i].set
			break
		}
	}
	if s == nil {
		s = b.slab.setB()
		s.ttl, s.policy = si.ttl, si.policy
		n.views = append(n.views, viewB{network: view, set: s})
	} else if si.ttl < s.ttl {
		s.ttl = si.ttl // one RRset, one TTL: the smallest (RFC 2181)
	}
	return s
}

// add adds recs to one kind of record (field) of name in the view of
// network and, when the network belongs to it, the default view. The
// ".<network>" forms pass scoped=true: they have the one view only. recs
// must not change afterwards: a collector may keep it rather than copy it.
func add[T any](b *builder, name, network string, scoped bool, si *svcInfo, recs []T, field func(*setB) *[]T) {
	if len(recs) == 0 {
		return
	}
	n := b.nameB(name)
	if !scoped {
		appendRecs(field(b.set(n, network, si)), recs)
		if !b.inDefault(network) {
			return
		}
	}
	appendRecs(field(b.set(n, "", si)), recs)
}

// appendRecs appends recs to *dst, sharing recs while *dst is empty (the
// capacity is cut so that a later append copies).
func appendRecs[T any](dst *[]T, recs []T) {
	if *dst == nil {
		*dst = recs[:len(recs):len(recs)]
		return
	}
	*dst = append(*dst, recs...)
}

func addrsOf(s *setB) *[]addrRec { return &s.addrs }
func srvsOf(s *setB) *[]srvRec   { return &s.srvs }

func (b *builder) addAddrs(name, network string, scoped bool, si *svcInfo, recs []addrRec) {
	add(b, name, network, scoped, si, recs, addrsOf)
}

func (b *builder) addSRV(name, network string, scoped bool, si *svcInfo, recs []srvRec) {
	add(b, name, network, scoped, si, recs, srvsOf)
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
	for _, id := range svc.VIPNetworkIDs(nil) {
		addNet(id)
	}
	for _, t := range tasks {
		for _, id := range t.NetworkIDs(nil) {
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

	// By task index: the task's name and, as an SRV target, its FQDN.
	taskNames := make([]string, len(tasks))
	targets := make([]string, len(tasks))
	for i, t := range tasks {
		taskNames[i] = taskName(si.name, t)
		targets[i] = taskNames[i] + "." + b.cfg.Domain
	}
	firstPort := uint16(0)
	if len(si.ports) > 0 {
		firstPort = si.ports[0].Target
	}

	for _, net := range networks {
		nn := b.netName(net)
		// Every task's addresses on net, task after task: a task's own
		// records are a window of taskRecs.
		n := 0
		for _, t := range tasks {
			n += len(t.AddrsOn(net))
		}
		taskRecs := takeN(&b.slab.addrRecs, n)[:0]
		for _, t := range tasks {
			w := si.weight * b.nodeWeight(t.NodeID)
			for _, a := range t.AddrsOn(net) {
				taskRecs = append(taskRecs, addrRec{addr: a.Unmap(), weight: w, local: local(t), info: t.ID})
			}
		}
		var vipRecs []addrRec
		if vip, ok := svc.VIPOn(net); ok && vip.IsValid() {
			vipRecs = takeN(&b.slab.addrRecs, 1)
			vipRecs[0] = addrRec{addr: vip.Unmap(), weight: max(si.weight, 1), info: "vip"}
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
		off := 0
		for i, t := range tasks {
			recs := taskRecs[off : off+len(t.AddrsOn(net))]
			off += len(recs)
			if len(recs) == 0 {
				continue
			}
			tn := taskNames[i]
			b.addAddrs(tn, net, false, &si, recs)
			if t.Slot > 0 {
				b.addAddrs(slotName(t.Slot, si.name), net, false, &si, recs)
			}
			if nn != "" {
				scoped := networkName(tn, nn)
				b.addAddrs(scoped, net, true, &si, recs)
				for _, r := range recs {
					b.addPTR(r.addr, scoped+".", &si)
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
			srvs := takeN(&b.slab.srvRecs, len(tasks))[:0]
			for i, t := range tasks {
				glue := t.AddrsOn(net)
				if len(glue) == 0 {
					continue
				}
				srvs = append(srvs, srvRec{
					target: targets[i], port: port,
					weight: si.weight * b.nodeWeight(t.NodeID), local: local(t), info: t.ID, glue: glue,
				})
			}
			return srvs
		}
		portSRVs := make([][]srvRec, len(si.ports))
		for k, p := range si.ports {
			portSRVs[k] = srvFor(p.Target)
		}
		all := srvFor(firstPort)
		for _, name := range names {
			for k, p := range si.ports {
				b.addSRV(srvName(portName(p), strings.ToLower(p.Protocol), name), net, false, &si, portSRVs[k])
			}
			b.addSRV(name, net, false, &si, all)
			b.addSRV(tasksName(name), net, false, &si, all)
		}
	}
}

func (b *builder) addPTR(addr netip.Addr, target string, si *svcInfo) {
	n := b.nameB(reverseName(addr))
	n.reverse = true
	s := b.set(n, "", si)
	for _, p := range s.ptrs {
		if p == target {
			return
		}
	}
	s.ptrs = append(s.ptrs, target)
}

// reverseName is dns.ReverseAddr of a without the trailing dot
// ("4.3.2.1.in-addr.arpa"), built without the intermediate strings.
func reverseName(a netip.Addr) string {
	var buf [72]byte // 32 nibbles of "x." and "ip6.arpa"
	b := buf[:0]
	if a.Is4() {
		v := a.As4()
		for i := 3; i >= 0; i-- {
			b = strconv.AppendUint(b, uint64(v[i]), 10)
			b = append(b, '.')
		}
		return string(append(b, "in-addr.arpa"...))
	}
	const hex = "0123456789abcdef"
	v := a.As16()
	for i := 15; i >= 0; i-- {
		b = append(b, hex[v[i]&0xF], '.', hex[v[i]>>4], '.')
	}
	return string(append(b, "ip6.arpa"...))
}

// snapshotNames packs every collected name into s.
func (b *builder) snapshotNames(s *Snapshot, prev *Snapshot) {
	s.names = b.names
	for _, nb := range b.order {
		key := nb.key
		n := nb.name
		n.views = takeOne(&b.slab.views)
		var def *setB
		for _, v := range nb.views {
			if v.network == "" {
				def = v.set
			}
		}
		n.views[0] = b.view(key, "", def, prev)
		if len(nb.views) > 1 || def == nil {
			netViews := b.netViews[:0]
			for _, v := range nb.views {
				if v.network != "" {
					netViews = append(netViews, v)
				}
			}
			b.netViews = netViews
			slices.SortFunc(netViews, func(x, y viewB) int { return strings.Compare(x.network, y.network) })
			for _, v := range netViews {
				if def != nil && sameSet(def, v.set) {
					continue // packs to the default view; sameView would drop it
				}
				view := b.view(key, v.network, v.set, prev)
				if !sameView(&view, &n.views[0]) {
					n.views = append(n.views, view)
				}
			}
		}
		n.b = nil
	}
	// Empty non-terminals exist (NODATA, not NXDOMAIN): "1.abc" under
	// "web.1.abc", "_tcp.web" under "_http._tcp.web". The walk up from a
	// name stops at the first suffix that exists: an empty non-terminal
	// added already has its own suffixes, and a name gets its walk.
	empty := &Name{views: []View{{}}}
	for _, nb := range b.order {
		if nb.reverse {
			continue
		}
		for rest := nb.key; ; {
			_, after, ok := strings.Cut(rest, ".")
			if !ok {
				break
			}
			if _, exists := s.names[after]; exists {
				break
			}
			s.names[after] = empty
			rest = after
		}
	}
	b.apex(s)
}

// sameSet reports whether two collectors hold the same records in the
// same order, with the same TTL and policy.
func sameSet(a, b *setB) bool {
	if a.ttl != b.ttl || a.policy != b.policy || len(a.addrs) != len(b.addrs) || len(a.srvs) != len(b.srvs) || len(a.ptrs) != len(b.ptrs) {
		return false
	}
	for i := range a.addrs {
		if a.addrs[i] != b.addrs[i] {
			return false
		}
	}
	for i := range a.srvs {
		x, y := &a.srvs[i], &b.srvs[i]
		if x.target != y.target || x.port != y.port || x.weight != y.weight || x.local != y.local || x.info != y.info || len(x.glue) != len(y.glue) {
			return false
		}
		for j := range x.glue {
			if x.glue[j] != y.glue[j] {
				return false
			}
		}
	}
	for i := range a.ptrs {
		if a.ptrs[i] != b.ptrs[i] {
			return false
		}
	}
	return true
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
	// Split by family, first occurrence of each address kept, in order.
	v4, v6 := b.v4[:0], b.v6[:0]
	var seen map[netip.Addr]bool
	if len(sb.addrs) > smallSet {
		seen = make(map[netip.Addr]bool, len(sb.addrs))
	}
	for i, r := range sb.addrs {
		if seen != nil {
			if seen[r.addr] {
				continue
			}
			seen[r.addr] = true
		} else if hasAddr(sb.addrs[:i], r.addr) {
			continue
		}
		if r.addr.Is4() {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	b.v4, b.v6 = v4, v6
	v.A = b.addrSet(dns.TypeA, v4, sb, prevView)
	v.AAAA = b.addrSet(dns.TypeAAAA, v6, sb, prevView)
	v.SRV = b.srvSet(sb, prevView)
	if len(sb.ptrs) > 0 {
		rs := b.rrset(dns.TypePTR, sb.ttl, len(sb.ptrs))
		for _, target := range sb.ptrs {
			rs.Records = append(rs.Records, packPTR(b.slab.bytes(12+len(target)+1), sb.ttl, target))
			rs.Weights = append(rs.Weights, 1)
			rs.Info = append(rs.Info, target)
		}
		b.finish(rs, sb.policy, 0, nil, prevView)
		v.PTR = rs
	}
	return v
}

// smallSet is the size up to which a linear scan beats a map for
// duplicates.
const smallSet = 32

func hasAddr(recs []addrRec, a netip.Addr) bool {
	for i := range recs {
		if recs[i].addr == a {
			return true
		}
	}
	return false
}

// rrset returns an empty RRSet with room for n records.
func (b *builder) rrset(t uint16, ttl uint32, n int) *RRSet {
	rs := take(&b.slab.rrsets)
	rs.Type, rs.TTL = t, ttl
	rs.Records = takeN(&b.slab.records, n)[:0]
	rs.Weights = takeN(&b.slab.weights, n)[:0]
	rs.Info = takeN(&b.slab.infos, n)[:0]
	return rs
}

func (b *builder) addrSet(t uint16, recs []addrRec, sb *setB, prevView *View) *RRSet {
	if len(recs) == 0 {
		return nil
	}
	// A task's one address answers under its name, its slot and its
	// network-scoped name, collected from the same record: pack it once.
	// A set of one record has no rotation to keep apart.
	var src *addrRec
	if len(sb.addrs) == 1 {
		src = &sb.addrs[0]
		if rs := b.single[src]; rs != nil && rs.TTL == sb.ttl && rs.policy == sb.policy {
			return rs
		}
	}
	rs := b.rrset(t, sb.ttl, len(recs))
	if src != nil {
		defer func() { b.single[src] = rs }()
	}
	var local []bool // nil while no record is local: the same as all false
	for i, r := range recs {
		rs.Records = append(rs.Records, packAddr(b.slab.bytes(addrLen(r.addr)), sb.ttl, r.addr))
		rs.Weights = append(rs.Weights, r.weight)
		rs.Info = append(rs.Info, r.info)
		if r.local && local == nil {
			local = b.scratchLocal(len(recs))
		}
		if local != nil {
			local[i] = r.local
		}
	}
	b.finish(rs, sb.policy, b.cfg.MaxAnswers, local, prevView)
	return rs
}

type srvKey struct {
	target string
	port   uint16
}

func (b *builder) srvSet(sb *setB, prevView *View) *RRSet {
	if len(sb.srvs) == 0 {
		return nil
	}
	rs := b.rrset(dns.TypeSRV, sb.ttl, len(sb.srvs))
	rs.Extra = takeN(&b.slab.records, len(sb.srvs))[:0]
	rs.ExtraCount = takeN(&b.slab.counts, len(sb.srvs))[:0]
	local := b.scratchLocal(len(sb.srvs))[:0]
	var seen map[srvKey]bool
	if len(sb.srvs) > smallSet {
		seen = make(map[srvKey]bool, len(sb.srvs))
	}
	for i, r := range sb.srvs {
		k := srvKey{r.target, r.port}
		if seen != nil {
			if seen[k] {
				continue
			}
			seen[k] = true
		} else if hasSRV(sb.srvs[:i], k) {
			continue
		}
		prio := uint16(0)
		if r.local {
			prio = 0
		} else if b.cfg.PreferLocal && b.data.LocalNode != "" {
			prio = 1
		}
		target := b.slab.bytes(len(r.target) + 2)
		target = packName(target, r.target)
		rs.Records = append(rs.Records, packSRV(b.slab.bytes(18+len(target)), sb.ttl, prio, uint16(min(r.weight, 65535)), r.port, target))
		glueLen := 0
		for _, a := range r.glue {
			glueLen += len(target) + addrLen(a.Unmap()) - 2
		}
		glue := b.slab.bytes(glueLen)
		for _, a := range r.glue {
			glue = packGlue(glue, sb.ttl, target, a.Unmap())
		}
		if len(r.glue) == 0 {
			glue = nil
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

func hasSRV(recs []srvRec, k srvKey) bool {
	for i := range recs {
		if recs[i].port == k.port && recs[i].target == k.target {
			return true
		}
	}
	return false
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
	if prevView != nil {
		if p := prevView.Set(rs.Type); p != nil && p.print == rs.print {
			rs.state = p.state
		}
	}
	if rs.state == nil {
		rs.state = takeSmall(&b.slab.states)
	}
	if !anyWeight || allOne(rs.Weights) {
		rs.Weights = b.ones(len(rs.Weights))
	}
}

func allOne(ws []uint32) bool {
	for _, w := range ws {
		if w != 1 {
			return false
		}
	}
	return true
}

// ones returns n weights of 1, shared by every RRSet of the snapshot whose
// records all weigh 1.
func (b *builder) ones(n int) []uint32 {
	if n > len(b.one) {
		b.one = make([]uint32, max(n, 64, 2*len(b.one)))
		for i := range b.one {
			b.one[i] = 1
		}
	}
	return b.one[:n:n]
}

// scratchLocal returns a zeroed []bool of n, reused from RRSet to RRSet
// (finish reads it and keeps nothing).
func (b *builder) scratchLocal(n int) []bool {
	if cap(b.local) < n {
		b.local = make([]bool, n)
	}
	l := b.local[:n]
	clear(l)
	return l
}

// compileGroups compiles the policy over all records, or over the local
// and remote groups separately when some but not all records are local.
func compileGroups(policy scheduler.Policy, weights []uint32, local []bool) scheduler.Orderer {
	nl := 0
	for _, l := range local {
		if l {
			nl++
		}
	}
	if nl == 0 || nl == len(weights) {
		return policy.Compile(weights)
	}
	var li, ri []int
	var lw, rw []uint32
	for i, w := range weights {
		if local[i] {
			li, lw = append(li, i), append(lw, w)
		} else {
			ri, rw = append(ri, i), append(rw, w)
		}
	}
	return scheduler.Grouped(
		scheduler.Group{Indices: li, Orderer: policy.Compile(lw)},
		scheduler.Group{Indices: ri, Orderer: policy.Compile(rw)},
	)
}

// fingerprint identifies an RRSet's content for rotation carry-over
// (FNV-1a over the policy, and each record with its weight and locality).
func fingerprint(rs *RRSet, local []bool) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(rs.policy); i++ {
		h = (h ^ uint64(rs.policy[i])) * prime
	}
	for i, r := range rs.Records {
		for _, c := range r {
			h = (h ^ uint64(c)) * prime
		}
		w := rs.Weights[i]
		for _, c := range [4]byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)} {
			h = (h ^ uint64(c)) * prime
		}
		if local != nil && local[i] {
			h = (h ^ 1) * prime
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

// slabs hands out the snapshot's many small objects from chunks: one
// allocation per chunk instead of one per object, and far fewer objects
// for the garbage collector to trace. Rotation State, which a later
// snapshot may carry over and so keep its chunk, comes in small chunks.
type slabs struct {
	names    []Name
	views    []View
	rrsets   []RRSet
	records  [][]byte
	weights  []uint32
	infos    []string
	counts   []int
	states   []scheduler.State
	nameBs   []nameB
	setBs    []setB
	addrRecs []addrRec
	srvRecs  []srvRec
	buf      []byte
}

const slabLen = 1024

func take[T any](chunk *[]T) *T {
	if len(*chunk) == 0 {
		*chunk = make([]T, slabLen)
	}
	p := &(*chunk)[0]
	*chunk = (*chunk)[1:]
	return p
}

// takeOne returns a slice of one element (an append to it copies it out).
func takeOne[T any](chunk *[]T) []T {
	if len(*chunk) == 0 {
		*chunk = make([]T, slabLen)
	}
	one := (*chunk)[:1:1]
	*chunk = (*chunk)[1:]
	return one
}

// takeN returns a slice of n elements with capacity n, from a chunk
// unless n is large.
func takeN[T any](chunk *[]T, n int) []T {
	if n > slabLen/8 {
		return make([]T, n)
	}
	if len(*chunk) < n {
		*chunk = make([]T, slabLen)
	}
	s := (*chunk)[:n:n]
	*chunk = (*chunk)[n:]
	return s
}

// takeSmall is take with chunks of 64, for objects a later snapshot may keep.
func takeSmall[T any](chunk *[]T) *T {
	if len(*chunk) == 0 {
		*chunk = make([]T, 64)
	}
	p := &(*chunk)[0]
	*chunk = (*chunk)[1:]
	return p
}

func (s *slabs) nameB() *nameB { return take(&s.nameBs) }
func (s *slabs) setB() *setB   { return take(&s.setBs) }

// bytes returns an empty slice with room for n bytes, from a shared chunk
// for small n.
func (s *slabs) bytes(n int) []byte {
	const chunk = 64 << 10
	if n > chunk/8 {
		return make([]byte, 0, n)
	}
	if len(s.buf)+n > cap(s.buf) {
		s.buf = make([]byte, 0, chunk)
	}
	start := len(s.buf)
	s.buf = s.buf[:start+n]
	return s.buf[start : start : start+n]
}

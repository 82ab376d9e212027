package registry

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/swarmdns/swarmdns/scheduler"
)

// Config is what a snapshot build needs besides the data.
type Config struct {
	Domain string // the zone, e.g. "swarm.internal."
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
	// Nameservers are the zone's NS set; a name under the domain answers
	// its addresses. Empty: ns.<domain>, with no address.
	Nameservers []Nameserver
	// Serial, if set, returns the SOA serial of a snapshot once it is
	// built (zone transfers keep it); nil: the build time in Unix
	// seconds, or one past the previous snapshot's.
	Serial func(s *Snapshot) uint32

	// allNamesIndexed puts task names in the name index with every other
	// name instead of the task index (see tasknames.go).
	allNamesIndexed bool
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
	return c.checkNameservers()
}

// Build makes a snapshot of d. prev, if not nil, is the snapshot it
// replaces: an RRSet whose records, weights and policy are unchanged keeps
// prev's rotation state. Problems in the data (a bad label value) do not
// fail the build; they are returned as warnings and the default applies.
func Build(d *Data, cfg Config, prev *Snapshot) (*Snapshot, []error) {
	b := newBuilder(d, cfg, prev)
	s := &Snapshot{Domain: cfg.Domain, Built: time.Now(), Data: d, tab: b.tab}
	s.Serial = uint32(s.Built.Unix())
	if prev != nil && s.Serial <= prev.Serial {
		s.Serial = prev.Serial + 1
	}
	svcs := make([]*Service, len(d.Services))
	for i := range d.Services {
		svcs[i] = &d.Services[i]
	}
	// Merged names take their TTL and policy from the first service by name.
	slices.SortFunc(svcs, func(x, y *Service) int { return strings.Compare(x.Name, y.Name) })
	if b.structural {
		b.startSide(len(d.Tasks))
	}
	for i, svc := range svcs {
		b.service(svc)
		if i%sideBatchServices == sideBatchServices-1 {
			b.sendSide()
		}
	}
	if b.structural {
		collide := b.slotNamesCollide()
		if !collide {
			b.packNames()
			b.emptyNonTerminals()
		}
		if b.endSide() || collide {
			// Some other name is, or ends like, a task's name, or two
			// tasks have one name: build with every task name in the
			// name index, where such names merge.
			cfg.allNamesIndexed = true
			return Build(d, cfg, prev)
		}
		b.mergeSide()
	} else {
		b.packNames()
		b.emptyNonTerminals()
	}
	b.apex(s)
	b.publish(s)
	b.publishTasks(s)
	b.clients(s)
	s.stats = Stats{Services: len(d.Services), Names: len(s.index.names) + b.sharedNames + len(b.ptrIdx.names)}
	s.stats.Tasks = d.RunningTasks()
	if cfg.Serial != nil {
		s.setSerial(cfg.Serial(s))
	}
	return s, b.warnings
}

// builder makes one snapshot. It collects the records of every name by
// view (nameB, viewB, setB, linked by index), then packs each name's views
// into RRSets. The name index and the record table it fills become the
// snapshot's.
type builder struct {
	cfg  Config
	data *Data
	prev *Snapshot

	idx nameIndex
	nbs []nameB // by name number, as idx.names
	vbs []viewB
	sbs []setB
	// more holds the SRV records and further PTR targets of collectors.
	more []setMore
	// polNames are the policies collectors name, by setB.pol.
	polNames []string

	tab *table
	// tablesMade is closed once sets, setView and vix are made.
	tablesMade chan struct{}
	sets       []RRSet
	// setView is, by set, the view that holds the set alone, or -1: names
	// whose one view is one shared set (a task's name, slot and
	// network-scoped name) share that view.
	setView []int32
	vix     []viewIx
	// shared is the packed A, AAAA or SRV set of a record slice, by the
	// slice: the same records under several names (a service and its
	// tasks name, each in two views) are packed once.
	shared map[sharedKey]int32

	// Task names (see tasknames.go).
	structural bool
	tix        nameIndex // task IDs; entry i heads tents list theads[i]
	theads     []int32
	tents      []taskEnt
	tnets      []taskNet
	nnUsed     []string // network names of network-scoped task names
	// The side goroutine's jobs (see side.go), and how many of each it
	// has been sent.
	side     *side
	sideIn   chan sideBatch
	sideDone chan struct{}
	tixJobs  []tixJob
	ptrJobs  []ptrJob
	setJobs  []setJob
	sent     struct{ tix, ptrs, sets int }
	resolved []resolvedPolicy // polNames, looked up
	// sharedNames counts slot and network-scoped names that are their
	// task's name (see directTask).
	sharedNames int
	ptrIdx      addrIndex // reverse names by address, from it
	// Slot names (see slotnames.go).
	slotIdx    nameIndex // service names; entry i has slotRanges[i]
	slotRanges []slotRange
	slotEnts   []slotEnt
	slotsNow   []slotEnt // the service being built's, unsorted
	slotMap    map[int32]int32
	slotDup    bool     // two services have one name
	slotOwners []string // service names that have slot names
	// lastNames are the names of the services and aliases served, one
	// per service and network (see taskNamesCollide).
	lastNames []string

	nets        map[string]*Network
	nodes       map[string]*Node
	nodeWeights map[string]uint32
	// tasks are the running tasks of each service, by the service's
	// entry in svcTasks (see groupTasks).
	tasks       []*Task
	svcTasks    map[string]taskRange
	policies    map[string]scheduler.Policy
	polIdx      map[string]uint8
	defaultNets map[string]bool // nil: every network
	// netIDs numbers the networks views are of; netIDs[0] is "", the
	// default view. inDefault is by that number.
	netIDs   []string
	netIdx   map[string]int32
	netInDef []bool
	warnings []error

	// Scratch, reused from service to service and name to name.
	key      []byte
	ids      []string
	networks []string
	names    []string
	ti       []taskInfo
	slots    []int
	v4, v6   []addrRec
	local    []bool
	netViews []int32
	ptrs     []keyRef
	seen     map[[16]byte]struct{}
	srvSeen  map[srvKey]struct{}
	// The policy finish used last, by the name it was asked for.
	lastPolName string
	lastPol     scheduler.Policy
	lastPolIdx  uint8
	prevNum     int32 // name whose previous views prevName holds
	prevName    Name
	prevCursor  int32 // the name of prev after the one prevLookup found last

	// arena holds every address record collected; collectors refer to
	// windows of it.
	arena []addrRec
	// singles are, by arena offset, the packed set of that record alone,
	// +1 (see addrSets).
	singles []int32
	srvSlab []srvRec
	weights []uint32
	states  []scheduler.State
	domain  []byte // the zone in wire format

	apexNS, apexSOA int32
	nsNames         []nsName
}

type nameB struct {
	head int32 // first viewB, -1 for none
	// packed marks a name whose view was packed as it was added (see
	// directTask).
	packed  bool
	tent    int32 // for a task's name, its entry in builder.tents, else -1
	reverse bool
	// task marks a task's name and network-scoped name, found through the
	// task index rather than the name index (see tasknames.go).
	task bool
}

// viewB is one view of a name while collecting: the records it gets.
type viewB struct {
	network int32 // in builder.netIDs; 0 is the default view
	// mirror is, for a default view, the network whose view has had the
	// same records so far (see add), or 0.
	mirror int32
	set    int32 // setB
	next   int32 // next viewB of the name, -1 at the end
}

type setB struct {
	addrs recsRef
	ptr   keyRef // the first PTR target
	more  int32  // the rest in builder.more, +1
	ttl   uint32
	pol   uint8 // index in builder.polNames
}

// setMore is what few collectors have: SRV records, a second PTR target.
type setMore struct {
	srvs []srvRec
	ptrs []keyRef
}

// keyRef is a name in the index's key arena (a PTR target).
type keyRef struct {
	off uint32
	n   uint8
}

// addrRec is one address record while collecting. It holds no pointer
// (netip.Addr does), so the collectors cost the garbage collector nothing.
type addrRec struct {
	ip     [16]byte
	weight uint32
	info   uint32
	is4    bool
	local  bool
}

func newAddrRec(a netip.Addr, weight, info uint32, local bool) addrRec {
	a = a.Unmap()
	return addrRec{ip: a.As16(), is4: a.Is4(), weight: weight, info: info, local: local}
}

func (r *addrRec) addr() netip.Addr {
	if r.is4 {
		return netip.AddrFrom4([4]byte(r.ip[12:]))
	}
	return netip.AddrFrom16(r.ip)
}

// recsRef is a window of builder.arena.
type recsRef struct{ off, n uint32 }

func (b *builder) recs(r recsRef) []addrRec { return b.arena[r.off : r.off+r.n : r.off+r.n] }

// window returns n records of r from its i-th.
func (r recsRef) window(i, n int) recsRef { return recsRef{off: r.off + uint32(i), n: uint32(n)} }

type srvRec struct {
	task   int32 // the task's name number: the target, with the domain
	port   uint16
	weight uint32
	info   uint32
	local  bool
	glue   []netip.Addr
}

type srvKey struct {
	task int32
	port uint16
}

// taskInfo is what a service's pass knows of each of its tasks.
type taskInfo struct {
	name   int32 // its name's number once added, else -1
	info   uint32
	weight uint32
	local  bool
}

// viewIx is a packed view whose RRSets are numbers in builder.sets (-1:
// none); publish turns it into a View.
type viewIx struct {
	network           int32 // in builder.netIDs
	a, aaaa, srv, ptr int32
}

type sharedKey struct {
	addrs uint32 // recsRef.off + 1
	srvs  *srvRec
	n     int
	ttl   uint32
	pol   uint8
	typ   uint16
}

// Infos every snapshot has, at these indices of table.infos.
const (
	infoVIP = iota
	infoNS
	infoSOA
)

func newBuilder(d *Data, cfg Config, prev *Snapshot) *builder {
	// Sized once, not regrown, nor much bigger than needed: a snapshot
	// keeps most of these. A task has its name (its slot and
	// network-scoped names are its name, see directTask; its reverse name
	// is the side's) and about 50 bytes of keys; a service has about seven
	// names in the name index, with their collectors. With every name in
	// the name index, a task has about four names and collectors, and
	// nine keys in the index with its empty non-terminals.
	names := len(d.Tasks) + 7*len(d.Services) + 16
	indexed := 8*len(d.Services) + 16
	collectors := 6*len(d.Services) + 16
	keys := 52*len(d.Tasks) + 64*len(d.Services) + 256
	if cfg.allNamesIndexed {
		names = 4*len(d.Tasks) + 8*len(d.Services) + 16
		indexed = 9*len(d.Tasks) + 8*len(d.Services) + 16
		collectors = 4*len(d.Tasks) + 10*len(d.Services) + 16
		keys = 85*len(d.Tasks) + 64*len(d.Services) + 256
	}
	b := &builder{
		cfg:         cfg,
		data:        d,
		prev:        prev,
		idx:         newNameIndex(indexed, names, keys),
		nbs:         make([]nameB, 0, names),
		vbs:         make([]viewB, 0, collectors),
		sbs:         make([]setB, 0, collectors),
		tab:         &table{infos: []string{infoVIP: "vip", infoNS: "ns", infoSOA: "soa"}},
		shared:      make(map[sharedKey]int32),
		nets:        make(map[string]*Network, len(d.Networks)),
		nodes:       make(map[string]*Node, len(d.Nodes)),
		nodeWeights: make(map[string]uint32, len(d.Nodes)),
		policies:    make(map[string]scheduler.Policy),
		polIdx:      make(map[string]uint8),
		prevNum:     -1,
		structural:  !cfg.allNamesIndexed,
	}
	if b.structural {
		b.tents = make([]taskEnt, 0, len(d.Tasks))
		b.tixJobs = make([]tixJob, 0, len(d.Tasks))
		b.setJobs = make([]setJob, 0, len(d.Tasks))
		b.tnets = make([]taskNet, 0, len(d.Tasks))
		b.ptrJobs = make([]ptrJob, 0, len(d.Tasks)+len(d.Services))
		b.slotIdx = newNameIndex(len(d.Services), len(d.Services), 16*len(d.Services))
		b.slotEnts = make([]slotEnt, 0, len(d.Tasks))
	}
	// The records the builder packs itself: in a structural build, two
	// per task (in its service's tasks set, and its SRV record with glue)
	// and 112 bytes of them; with every name in the name index, also the
	// task's own and its PTR record. Half of them when the names pack in
	// two halves (see packNames).
	recs, bytes := 2*len(d.Tasks)+2*len(d.Services), 112*len(d.Tasks)+64*len(d.Services)
	if cfg.allNamesIndexed {
		recs, bytes = 4*len(d.Tasks)+2*len(d.Services), 170*len(d.Tasks)+64*len(d.Services)
	}
	if names >= parallelPackMin {
		recs, bytes = recs/2, bytes/2
	}
	b.tab.recs = make([]rec, 0, recs+16)
	b.tab.bytes = make([]byte, 0, bytes+1024)
	b.arena = make([]addrRec, 0, len(d.Tasks)+len(d.Services)+16)
	b.tab.infos = append(make([]string, 0, len(d.Tasks)+3), b.tab.infos...)
	b.more = make([]setMore, 0, 4*len(d.Services)+4)
	// The set and view tables are not needed before names pack: another
	// core allocates (and zeroes) them while services are collected.
	b.tablesMade = make(chan struct{})
	go func() {
		defer close(b.tablesMade)
		b.sets = make([]RRSet, 0, 2*len(d.Tasks)+8*len(d.Services)+4)
		b.setView = make([]int32, 0, cap(b.sets))
		b.vix = make([]viewIx, 0, 2*len(d.Tasks)+6*len(d.Services)+4)
		b.vix = append(b.vix, viewIx{a: -1, aaaa: -1, srv: -1, ptr: -1}) // 0: the empty view
	}()
	for i := range d.Networks {
		b.nets[d.Networks[i].ID] = &d.Networks[i]
	}
	for i := range d.Nodes {
		b.nodes[d.Nodes[i].ID] = &d.Nodes[i]
	}
	b.groupTasks()
	b.defaultNets = b.resolveNetworks(cfg.Networks)
	b.netIDs, b.netIdx, b.netInDef = []string{""}, map[string]int32{"": 0}, []bool{true}
	return b
}

type taskRange struct{ off, n int32 }

// groupTasks puts the running tasks of each service together in b.tasks,
// in their order in the data.
func (b *builder) groupTasks() {
	d := b.data
	b.svcTasks = make(map[string]taskRange, len(d.Services))
	for i := range d.Services {
		b.svcTasks[d.Services[i].ID] = taskRange{}
	}
	// Tasks mostly come service by service: a run of one service's tasks
	// costs one map lookup.
	count := func(fill bool) {
		id, r, ok, started := "", taskRange{}, false, false
		for i := range d.Tasks {
			t := &d.Tasks[i]
			if t.State != TaskRunning {
				continue
			}
			if !started || t.ServiceID != id {
				if ok {
					b.svcTasks[id] = r
				}
				id, started = t.ServiceID, true
				r, ok = b.svcTasks[id]
			}
			if ok {
				if fill {
					b.tasks[r.off+r.n] = t
				}
				r.n++
			}
		}
		if ok {
			b.svcTasks[id] = r
		}
	}
	count(false)
	off := int32(0)
	for id, r := range b.svcTasks {
		b.svcTasks[id] = taskRange{off: off}
		off += r.n
	}
	b.tasks = make([]*Task, off)
	count(true)
}

func (b *builder) nodeWeight(id string) uint32 {
	if w, ok := b.nodeWeights[id]; ok {
		return w
	}
	w := uint32(1)
	if n := b.nodes[id]; n != nil {
		if v, ok := n.Labels[LabelWeight]; ok {
			var err error
			if w, err = parseWeight(v); err != nil {
				b.warnf("node %s: label %s: %v", n.Hostname, LabelWeight, err)
			}
		}
	}
	b.nodeWeights[id] = w
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

func (b *builder) inDefault(net int32) bool { return b.netInDef[net] }

// netOf returns the number of the network with this ID.
func (b *builder) netOf(id string) int32 {
	if x, ok := b.netIdx[id]; ok {
		return x
	}
	x := int32(len(b.netIDs))
	b.netIDs = append(b.netIDs, id)
	b.netIdx[id] = x
	b.netInDef = append(b.netInDef, b.defaultNets == nil || b.defaultNets[id])
	return x
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

// k makes a name key of parts in the builder's scratch.
func (b *builder) k(parts ...string) []byte {
	b.key = b.key[:0]
	for _, p := range parts {
		b.key = append(b.key, p...)
	}
	return b.key
}

// maxKey is the longest key a question can carry (a name of 255 bytes
// on the wire); longer names are never asked, so they are not kept.
const maxKey = 253

// name returns the number of the name with this key, creating it.
func (b *builder) name(key []byte) int32 {
	n, added := b.idx.intern(key)
	if added {
		b.nbs = append(b.nbs, nameB{head: -1, tent: -1})
	}
	return n
}

// set returns the record collector of name n in view (network ID, "" for
// the default view), creating it with si's TTL and policy.
func (b *builder) set(n int32, view int32, si *svcInfo) *setB {
	v := b.findView(n, view)
	if v < 0 {
		v = b.newView(n, view, si)
	}
	return b.touch(v, si)
}

func (b *builder) findView(n int32, view int32) int32 {
	for v := b.nbs[n].head; v >= 0; v = b.vbs[v].next {
		if b.vbs[v].network == view {
			return v
		}
	}
	return -1
}

func (b *builder) newView(n int32, view int32, si *svcInfo) int32 {
	b.sbs = append(b.sbs, setB{ttl: si.ttl, pol: si.pol})
	b.vbs = append(b.vbs, viewB{network: view, set: int32(len(b.sbs) - 1), next: b.nbs[n].head})
	b.nbs[n].head = int32(len(b.vbs) - 1)
	return b.nbs[n].head
}

// touch returns the collector of view v as si adds to it.
func (b *builder) touch(v int32, si *svcInfo) *setB {
	s := &b.sbs[b.vbs[v].set]
	if si.ttl < s.ttl {
		s.ttl = si.ttl // one RRset, one TTL: the smallest (RFC 2181)
	}
	return s
}

// split gives the network that default view d mirrors a collector of its
// own, a copy of d's records so far.
func (b *builder) split(n, d int32) {
	src := b.sbs[b.vbs[d].set]
	// Address records are never appended in place (see put), so both may
	// keep the window; SRV records and PTR targets get their capacity cut,
	// so that appends to one never write into the other's array.
	if src.more != 0 {
		m := b.more[src.more-1]
		m.srvs, m.ptrs = m.srvs[:len(m.srvs):len(m.srvs)], m.ptrs[:len(m.ptrs):len(m.ptrs)]
		b.more[src.more-1] = m
		b.more = append(b.more, m)
		src.more = int32(len(b.more))
	}
	b.sbs = append(b.sbs, src)
	b.vbs = append(b.vbs, viewB{network: b.vbs[d].mirror, set: int32(len(b.sbs) - 1), next: b.nbs[n].head})
	b.nbs[n].head = int32(len(b.vbs) - 1)
	b.vbs[d].mirror = 0
}

// add adds records to the name with this key in the view of network and,
// when the network belongs to it, the default view, and returns the
// name's number (-1 when there is nothing to add). The ".<network>" forms
// pass scoped=true: they have the one view only. The records must not
// change afterwards: a collector may keep the slice rather than copy it.
func (b *builder) add(key []byte, network int32, scoped bool, si *svcInfo, addrs recsRef, srvs []srvRec) int32 {
	if int(addrs.n)+len(srvs) == 0 || len(key) > maxKey {
		return -1
	}
	return b.addTo(b.name(key), network, scoped, si, addrs, srvs)
}

// addTo is add for the name with number n.
func (b *builder) addTo(n int32, network int32, scoped bool, si *svcInfo, addrs recsRef, srvs []srvRec) int32 {
	inDefault := b.inDefault(network)
	d := b.findView(n, 0)
	if !scoped && inDefault {
		// The network's view and the default view get the same records:
		// while nothing else comes to either, one collector stands for
		// both (a network view equal to the default one is not kept).
		if d < 0 && b.findView(n, network) < 0 {
			d = b.newView(n, 0, si)
			b.vbs[d].mirror = network
			b.put(b.touch(d, si), addrs, srvs)
			return n
		}
		if d >= 0 && b.vbs[d].mirror == network {
			b.put(b.touch(d, si), addrs, srvs)
			return n
		}
	}
	if d >= 0 && b.vbs[d].mirror != 0 {
		b.split(n, d)
	}
	if !scoped {
		b.put(b.set(n, network, si), addrs, srvs)
		if !inDefault {
			return n
		}
	}
	b.put(b.set(n, 0, si), addrs, srvs)
	return n
}

func (b *builder) put(s *setB, addrs recsRef, srvs []srvRec) {
	switch {
	case addrs.n == 0:
	case s.addrs.n == 0:
		s.addrs = addrs // shared with whoever else has the window
	default:
		// A second window: both, copied to the end of the arena.
		off := uint32(len(b.arena))
		b.arena = append(b.arena, b.recs(s.addrs)...)
		b.arena = append(b.arena, b.recs(addrs)...)
		s.addrs = recsRef{off: off, n: s.addrs.n + addrs.n}
	}
	if len(srvs) > 0 {
		appendRecs(&b.moreOf(s).srvs, srvs)
	}
}

// moreOf returns the rest of a collector, creating it.
func (b *builder) moreOf(s *setB) *setMore {
	if s.more == 0 {
		b.more = append(b.more, setMore{})
		s.more = int32(len(b.more))
	}
	return &b.more[s.more-1]
}

// srvsOf and ptrsOf return the SRV records and PTR targets of a collector.
func (b *builder) srvsOf(s *setB) []srvRec {
	if s.more == 0 {
		return nil
	}
	return b.more[s.more-1].srvs
}

func (b *builder) ptrsOf(s *setB, dst []keyRef) []keyRef {
	if s.ptr.n == 0 {
		return dst
	}
	dst = append(dst, s.ptr)
	if s.more != 0 {
		dst = append(dst, b.more[s.more-1].ptrs...)
	}
	return dst
}

// appendRecs appends recs to *dst, sharing recs while *dst is empty (the
// capacity is cut so that a later append copies).
func appendRecs[T any](dst *[]T, recs []T) {
	if len(recs) == 0 {
		return
	}
	if *dst == nil {
		*dst = recs[:len(recs):len(recs)]
		return
	}
	*dst = append(*dst, recs...)
}

// addPTR adds target (a name in the key arena, made absolute by a dot) to
// the reverse name of addr.
func (b *builder) addPTR(addr netip.Addr, target keyRef, si *svcInfo) {
	n := b.reverseName(addr)
	s := b.set(n, 0, si)
	if s.ptr.n == 0 {
		s.ptr = target
		return
	}
	want := b.refKey(target)
	b.ptrs = b.ptrsOf(s, b.ptrs[:0])
	for _, p := range b.ptrs {
		if string(b.refKey(p)) == string(want) {
			return
		}
	}
	m := b.moreOf(s)
	m.ptrs = append(m.ptrs, target)
}

func (b *builder) refKey(r keyRef) []byte { return b.idx.keys[r.off : r.off+uint32(r.n)] }

// ref returns the key of name n as a keyRef.
func (b *builder) ref(n int32) keyRef {
	e := &b.idx.names[n]
	return keyRef{off: e.key, n: e.klen}
}

// rawRef puts key in the arena without making it a name, unless it is one.
func (b *builder) rawRef(key []byte) keyRef {
	if n := b.idx.find(key, hashKey(key)); n >= 0 {
		return b.ref(n)
	}
	return b.rawKey(key)
}

// rawKey puts key in the arena without making it a name.
func (b *builder) rawKey(key []byte) keyRef {
	off := uint32(len(b.idx.keys))
	b.idx.keys = append(b.idx.keys, key...)
	return keyRef{off: off, n: uint8(len(key))}
}

func (b *builder) service(svc *Service) {
	si := b.labels(svc)
	if err := checkName(si.name); err != nil {
		b.warnf("service %s: %v; not served", svc.Name, err)
		return
	}
	r := b.svcTasks[svc.ID]
	tasks := b.tasks[r.off : r.off+r.n]
	localNode := ""
	if b.cfg.PreferLocal {
		localNode = b.data.LocalNode
	}
	// The networks this service is named on: its attachments, its VIPs'
	// networks and its tasks' networks, each sorted by ID.
	networks := b.networks[:0]
	addNet := func(id string) {
		for _, n := range networks {
			if n == id {
				return
			}
		}
		if !b.ingress(id) {
			networks = append(networks, id)
		}
	}
	for _, a := range svc.Networks {
		addNet(a.Network)
	}
	b.ids = svc.VIPNetworkIDs(b.ids[:0])
	for _, id := range b.ids {
		addNet(id)
	}
	for _, t := range tasks {
		b.ids = t.NetworkIDs(b.ids[:0])
		for _, id := range b.ids {
			addNet(id)
		}
	}
	b.networks = networks

	ti := b.ti[:0]
	for _, t := range tasks {
		ti = append(ti, taskInfo{
			name:   -1,
			info:   uint32(len(b.tab.infos)),
			weight: si.weight * b.nodeWeight(t.NodeID),
			local:  localNode != "" && t.NodeID == localNode,
		})
		b.tab.infos = append(b.tab.infos, t.ID)
	}
	b.ti = ti
	firstPort := uint16(0)
	if len(si.ports) > 0 {
		firstPort = si.ports[0].Target
	}
	// The SRV owner's first labels per port: "_http._tcp".
	srvFirst := make([]string, len(si.ports))
	for k, p := range si.ports {
		srvFirst[k] = srvLabels(p)
	}

	// A task with one address on one network, in a service whose slots
	// are one task each, has its names packed as they are added.
	direct := b.structural && uniqueSlots(tasks, &b.slots)
	for _, netID := range networks {
		nn := b.netName(netID)
		net := b.netOf(netID)
		inDef := b.inDefault(net)
		// Every task's addresses on the network, task after task: a task's
		// own records are a window of taskRecs.
		n := 0
		for _, t := range tasks {
			n += len(t.AddrsOn(netID))
		}
		taskRecs := recsRef{off: uint32(len(b.arena)), n: uint32(n)}
		for i, t := range tasks {
			for _, a := range t.AddrsOn(netID) {
				b.arena = append(b.arena, newAddrRec(a, ti[i].weight, ti[i].info, ti[i].local))
			}
		}
		var vipRecs recsRef
		if vip, ok := svc.VIPOn(netID); ok && vip.IsValid() {
			vipRecs = recsRef{off: uint32(len(b.arena)), n: 1}
			b.arena = append(b.arena, newAddrRec(vip, max(si.weight, 1), infoVIP, false))
		}
		svcRecs := vipRecs
		if si.tasksOn {
			svcRecs = taskRecs
		}
		names := append(b.names[:0], si.name)
		names = b.aliases(names, svc, &si, netID)
		b.names = names
		if b.structural {
			b.lastNames = append(b.lastNames, names...)
		}
		for _, name := range names {
			b.add(b.k(name), net, false, &si, svcRecs, nil)
			b.add(b.k("tasks.", name), net, false, &si, taskRecs, nil)
			if nn != "" {
				b.add(b.k(name, ".", nn), net, true, &si, svcRecs, nil)
				b.add(b.k("tasks.", name, ".", nn), net, true, &si, taskRecs, nil)
			}
		}
		// Each task by name and by slot, and the reverse of its addresses.
		off := 0
		for i, t := range tasks {
			recs := taskRecs.window(off, len(t.AddrsOn(netID)))
			off += int(recs.n)
			if recs.n == 0 {
				continue
			}
			b.key = appendTaskKey(b.key[:0], si.name, t)
			if len(b.key) > maxKey {
				continue
			}
			if direct && inDef && recs.n == 1 && len(t.Addresses) == 1 {
				ti[i].name = b.directTask(t, &si, nn, recs)
				continue
			}
			n := ti[i].name // its name from an earlier network
			if n < 0 {
				n = b.taskName(b.key)
			}
			ti[i].name = b.addTo(n, net, false, &si, recs, nil)
			if t.Slot > 0 {
				b.key = appendSlotKey(b.key[:0], t.Slot, si.name)
				if len(b.key) <= maxKey {
					b.addTo(b.slotName(t.Slot, b.key), net, false, &si, recs, nil)
				}
			}
			if nn != "" {
				b.key = append(append(append(b.key[:0], b.refKey(b.ref(ti[i].name))...), '.'), nn...)
				if len(b.key) <= maxKey {
					scoped := b.addTo(b.taskNetName(ti[i].name, nn, b.key), net, true, &si, recs, nil)
					for k := range recs.n {
						b.ptr(b.arena[recs.off+k].addr(), b.ref(scoped), &si)
					}
				}
			}
		}
		if nn != "" && vipRecs.n > 0 {
			if key := b.k(si.name, ".", nn); len(key) <= maxKey {
				target := b.rawRef(key)
				b.ptr(b.arena[vipRecs.off].addr(), target, &si)
			}
		}
		// SRV: per named port, and on the service and tasks names.
		srvFor := func(port uint16) []srvRec {
			srvs := takeN(&b.srvSlab, len(tasks))[:0]
			for i, t := range tasks {
				glue := t.AddrsOn(netID)
				if len(glue) == 0 || ti[i].name < 0 {
					continue
				}
				srvs = append(srvs, srvRec{
					task: ti[i].name, port: port, weight: ti[i].weight, local: ti[i].local, info: ti[i].info, glue: glue,
				})
			}
			return srvs
		}
		all := srvFor(firstPort)
		for _, name := range names {
			for k, p := range si.ports {
				recs := all
				if p.Target != firstPort {
					recs = srvFor(p.Target)
				}
				b.add(b.k(srvFirst[k], ".", name), net, false, &si, recsRef{}, recs)
			}
			b.add(b.k(name), net, false, &si, recsRef{}, all)
			b.add(b.k("tasks.", name), net, false, &si, recsRef{}, all)
		}
	}
	b.endSlots(si.name)
}

// aliases appends the service's valid aliases on net other than its name.
func (b *builder) aliases(names []string, svc *Service, si *svcInfo, net string) []string {
	for _, a := range svc.Networks {
		if a.Network != net {
			continue
		}
		for _, al := range a.Aliases {
			al = strings.ToLower(al)
			if err := checkName(al); err != nil {
				b.warnf("service %s: alias: %v; not served", svc.Name, err)
				continue
			}
			if al != si.name {
				names = append(names, al)
			}
		}
	}
	return names
}

// emptyNonTerminals adds the names that exist only because names below
// them do (NODATA, not NXDOMAIN): "1.abc" under "web.1.abc", "_tcp.web"
// under "_http._tcp.web". Their keys are suffixes of the names' keys, in
// the arena already. The walk up from a name stops at the first suffix
// that exists: an empty non-terminal added already has its own suffixes.
func (b *builder) emptyNonTerminals() {
	real := len(b.nbs)
	for n := 0; n < real; n++ {
		if b.nbs[n].reverse || b.nbs[n].task {
			continue
		}
		e := b.idx.names[n]
		off, end := e.key, e.key+uint32(e.klen)
		for {
			dot := bytes.IndexByte(b.idx.keys[off:end], '.')
			if dot < 0 {
				break
			}
			off += uint32(dot) + 1
			suffix := b.idx.keys[off:end]
			h := hashKey(suffix)
			if b.idx.find(suffix, h) >= 0 {
				break
			}
			num := b.idx.insert(off, len(suffix), h)
			b.idx.names[num].view, b.idx.names[num].nview = 0, 1 // the empty view
		}
	}
	// The network of a network-scoped task name exists: "appnet" under
	// "web.1.x.appnet".
	for _, nn := range b.nnUsed {
		b.ensureName([]byte(nn))
	}
	// The service above its slot names: "web" above "1.web".
	for _, svc := range b.slotOwners {
		b.ensureName([]byte(svc))
	}
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

// takeN returns a slice of n elements with capacity n, from a chunk
// unless n is large: one allocation per chunk instead of one per slice.
func takeN[T any](chunk *[]T, n int) []T {
	const chunkLen = 1024
	if n > chunkLen/8 {
		return make([]T, n)
	}
	if len(*chunk) < n {
		*chunk = make([]T, chunkLen)
	}
	s := (*chunk)[:n:n]
	*chunk = (*chunk)[n:]
	return s
}

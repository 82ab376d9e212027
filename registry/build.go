package registry

import (
	"cmp"
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
	// PreferLabel, a node label, answers tasks on nodes whose value of it
	// is Data.LocalNode's before the others (after the node's own, with
	// PreferLocal); empty: no such tier.
	PreferLabel string
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
	// name instead of the task index (see lookup.go).
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
	s := &Snapshot{Domain: cfg.Domain, Built: time.Now(), Data: d, tab: b.tab, allIndexed: cfg.allNamesIndexed}
	s.Serial = uint32(s.Built.Unix())
	if prev != nil && s.Serial <= prev.Serial {
		s.Serial = prev.Serial + 1
	}
	b.collectServices()
	if b.shapeIndexed {
		if !b.packWithWorker() {
			// Some other name is, or ends like, a task's name, or two
			// tasks have one name: build with every task name in the
			// name index, where such names merge.
			cfg.allNamesIndexed = true
			return Build(d, cfg, prev)
		}
	} else {
		b.packNames()
		b.emptyNonTerminals()
	}
	b.apex(s)
	b.publish(s)
	b.publishTasks(s)
	b.clients(s)
	s.stats = Stats{Services: len(d.Services), Names: len(s.index.names) + b.sharedNames + len(b.reverseIndex.names)}
	s.stats.Tasks = d.RunningTasks()
	if cfg.Serial != nil {
		s.setSerial(cfg.Serial(s))
	}
	return s, b.warnings
}

// collectServices adds every service's names, in the order of their
// names (of their IDs for one name): merged names take their TTL and
// policy from the first service, and their records in this order,
// whatever the order of the data.
func (b *builder) collectServices() {
	d := b.data
	svcs := make([]*Service, len(d.Services))
	for i := range d.Services {
		svcs[i] = &d.Services[i]
	}
	slices.SortFunc(svcs, func(x, y *Service) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), strings.Compare(x.ID, y.ID))
	})
	if b.shapeIndexed {
		b.startWorker(len(d.Tasks))
	}
	for i, svc := range svcs {
		b.service(svc)
		if i%workerBatchServices == workerBatchServices-1 {
			b.sendToWorker()
		}
	}
}

// packWithWorker packs the names while the task worker finishes, then
// adds the worker's tables. It reports false when the task or slot index
// would not be exact; the worker is stopped either way.
func (b *builder) packWithWorker() bool {
	collide := b.slotNamesCollide()
	if !collide {
		b.packNames()
		b.emptyNonTerminals()
	}
	if b.stopWorker() || collide {
		return false
	}
	b.mergeWorker()
	return true
}

// builder makes one snapshot (README.md tells the story of a build). Its
// state is in parts; the packer, embedded, packs into the snapshot's own
// record table, and a second packer, sharing only what packing reads,
// packs the second half of the names of a large build (see packNames).
type builder struct {
	cfg  Config
	data *Data

	cluster   cluster     // the Data by ID, and each service's running tasks
	where     localities  // each task's locality, by its node
	collected collection  // every name, with what it collects in each view
	policies  policyTable // the scheduler policies met, numbered
	packer                // packs collected names into RRSets and views
	// tablesMade is closed once the packer's sets and views are made
	// (another core allocates them while services are collected).
	tablesMade chan struct{}

	// shapeIndexed: task, slot and reverse names go in indexes of their
	// own, found by a name's shape (see lookup.go), not in the name index.
	// False when Config.allNamesIndexed.
	shapeIndexed bool
	taskIndex    taskNames // the snapshot's; ids and heads come from the worker
	slots        slotIndexBuilder
	reverseIndex addrIndex // reverse names by address, from the worker
	worker       *taskWorker
	jobs         workerJobs // what the worker is to do, as services are added
	// sharedNames counts slot and network-scoped names that are their
	// task's name (see singleRecordTask).
	sharedNames int
	// servedNames are the names of the services and aliases served, one
	// per service and network (see taskNamesCollide).
	servedNames []string

	perService serviceScratch
	key        []byte // the name key being made
	warnings   []error

	apexNS, apexSOA int32
	nsNames         []nsName
}

// keyScratch is the size of the builder's and each packer's key buffer,
// made once: a name key (maxKey bytes) or a packed name (255) fits.
const keyScratch = 512

// Infos every snapshot has, at these indices of table.infos.
const (
	infoVIP = iota
	infoNS
	infoSOA
)

// buildSizes are the first capacities of a build's tables: sized once,
// not regrown, nor much bigger than needed, as a snapshot keeps most of
// them.
type buildSizes struct {
	names, indexed, collectors, keys int
	recs, bytes                      int // of the builder's record table
}

func sizesFor(d *Data, allNamesIndexed bool) buildSizes {
	// A task has its name (its slot and network-scoped names are its
	// name, see singleRecordTask; its reverse name is the worker's) and
	// about 50 bytes of keys; a service has about seven names in the name
	// index, with their collectors. With every name in the name index, a
	// task has about four names and collectors, and nine keys in the index
	// with its empty non-terminals.
	t, s := len(d.Tasks), len(d.Services)
	z := buildSizes{names: t + 7*s + 16, indexed: 8*s + 16, collectors: 6*s + 16, keys: 52*t + 64*s + 256}
	if allNamesIndexed {
		z = buildSizes{names: 4*t + 8*s + 16, indexed: 9*t + 8*s + 16, collectors: 4*t + 10*s + 16, keys: 85*t + 64*s + 256}
	}
	// The records the builder packs itself: with task indexes, two per
	// task (in its service's tasks set, and its SRV record with glue) and
	// 112 bytes of them; with every name in the name index, also the
	// task's own and its PTR record. Half of them when the names pack in
	// two halves (see packNames).
	z.recs, z.bytes = 2*t+2*s, 112*t+64*s
	if allNamesIndexed {
		z.recs, z.bytes = 4*t+2*s, 170*t+64*s
	}
	if z.names >= parallelPackMin {
		z.recs, z.bytes = z.recs/2, z.bytes/2
	}
	return z
}

func newBuilder(d *Data, cfg Config, prev *Snapshot) *builder {
	size := sizesFor(d, cfg.allNamesIndexed)
	b := &builder{cfg: cfg, data: d, shapeIndexed: !cfg.allNamesIndexed, key: make([]byte, 0, keyScratch), where: newLocalities(d, cfg)}
	b.collected = newCollection(size, d)
	b.policies = policyTable{
		lookup:      cfg.Policies,
		defaultName: cfg.Policy,
		byName:      make(map[string]scheduler.Policy),
		number:      make(map[string]uint8),
	}
	b.packer = packer{
		collected:   &b.collected,
		policies:    &b.policies,
		prev:        prev,
		domain:      packName(nil, cfg.Domain),
		maxAnswers:  cfg.MaxAnswers,
		srvPriority: b.where.priority,
		tab: &table{
			recs:  make([]rec, 0, size.recs+16),
			bytes: make([]byte, 0, size.bytes+1024),
			infos: append(make([]string, 0, len(d.Tasks)+3), []string{infoVIP: "vip", infoNS: "ns", infoSOA: "soa"}...),
		},
		shared:  make(map[sharedKey]int32),
		prevAt:  prevCursor{num: -1},
		scratch: packScratch{key: make([]byte, 0, keyScratch)},
	}
	if b.shapeIndexed {
		b.taskIndex.ents = make([]taskEnt, 0, len(d.Tasks))
		b.taskIndex.nets = make([]taskNet, 0, len(d.Tasks))
		b.jobs = newWorkerJobs(len(d.Tasks), len(d.Services))
		b.slots.index.services = newNameIndex(len(d.Services), len(d.Services), 16*len(d.Services))
		b.slots.index.ents = make([]slotEnt, 0, len(d.Tasks))
	}
	b.makeTables()
	b.cluster = newCluster(d)
	b.collected.defaultNets = b.cluster.resolveNetworks(cfg.Networks)
	return b
}

// makeTables has another core allocate (and zero) the packer's set and
// view tables, not needed before names pack, while services are collected.
func (b *builder) makeTables() {
	t, s := len(b.data.Tasks), len(b.data.Services)
	b.tablesMade = make(chan struct{})
	go func() {
		defer close(b.tablesMade)
		b.sets = make([]RRSet, 0, 2*t+8*s+4)
		b.setView = make([]int32, 0, cap(b.sets))
		b.packedViews = make([]packedView, 0, 2*t+6*s+4)
		b.packedViews = append(b.packedViews, noView) // 0: the empty view
	}()
}

// clients indexes the subnets of the networks and the addresses of local
// containers, to find a client's networks.
func (b *builder) clients(s *Snapshot) { s.setClients(b.data, b.cluster.ingress) }

// setClients indexes the subnets of d's networks and the addresses of its
// local containers; ingress tells the ingress network's ID.
func (s *Snapshot) setClients(d *Data, ingress func(id string) bool) {
	s.subnets = nil
	for _, n := range d.Networks {
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
	for _, c := range d.Containers {
		var nets []string
		for _, id := range c.Networks {
			if !ingress(id) {
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

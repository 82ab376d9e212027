package registry

// How the Store publishes a change as an overlay over the last full build
// (overlay.go says how a layered snapshot answers):
//
//  1. Diff the Data against the base's by ID: the services that changed,
//     or one of whose tasks did (changedServices). A change to networks,
//     nodes or the local node, or to the configuration, builds in full.
//  2. Add every unchanged service that shares a service name or alias, or
//     an address, with a changed one, old or new (closeOver), so that no
//     name of the overlay's services is a name of the others.
//  3. Build the overlay's services as they are now (the overlay) and as
//     they were in the base (to know the names they had), each with every
//     name in the name index.
//  4. Check what the closure cannot see (checkOverlay): a new name must
//     not be the base's already, the reverse name of an address the
//     services had must not be shared with another service, and a network
//     name's empty non-terminal must not go.
//  5. The layered snapshot is the base's indexes, the overlay with a
//     tombstone for each name the services had and have no more, and its
//     own apex (the serial).
//
// Anything the overlay cannot hold exactly builds in full. When the
// overlay grows past foldTasks, a full build of the newest Data runs in
// the background and becomes the next base (fold).

// Bounds on an overlay, in tasks of its services (old and new).
var (
	// foldTasks starts a background full build.
	foldTasks = 2048
	// maxLayerTasks builds in full at once.
	maxLayerTasks = 8192
)

// layers is the Store's state for layered publishing; the Store's mutex
// guards it.
type layers struct {
	base     *Snapshot // the last full build; nil: the next publish builds in full
	baseData *Data
	index    *dataIndex // of baseData, once made (see waitIndex)
	indexing *indexing
	// gen counts the bases; a fold that started under another is dropped.
	gen     uint64
	folding bool
	off     bool // every snapshot is built in full (for tests)
	// carried are services the next overlay holds whatever the diff says:
	// those of the published overlay, whose rotation may differ from the
	// base's (a service changed and changed back restarts its rotation,
	// as a full build would).
	carried map[string]bool
	// sinceFold are the services that changed since the fold under way
	// started; they are carried over the base it makes.
	sinceFold map[string]bool
}

// reset makes snap, a full build of d, the base; its index is made on
// another goroutine.
func (l *layers) reset(snap *Snapshot, d *Data, cfg Config) {
	if l.off {
		return
	}
	l.setBase(snap, d, startIndexing(d, snap, cfg))
}

func (l *layers) setBase(snap *Snapshot, d *Data, x *indexing) {
	l.gen++
	l.base, l.baseData, l.index, l.indexing = snap, d, nil, x
	l.carried = nil
}

// drop forgets the base: the next publish builds in full.
func (l *layers) drop() { l.setBase(nil, nil, nil) }

// waitIndex waits for the base's index.
func (l *layers) waitIndex() {
	if l.index == nil {
		<-l.indexing.done
		l.index = l.indexing.index
	}
}

// layered builds the snapshot of d as an overlay over the base; ok is
// false when it must be built in full. cur is the published snapshot.
func (l *layers) layered(d *Data, cfg Config, cur *Snapshot) (*Snapshot, []error, bool) {
	if l.off || l.base == nil || cur == nil {
		return nil, nil, false
	}
	l.waitIndex()
	if !l.index.layerable {
		return nil, nil, false
	}
	ch, ok := l.changedServices(d)
	if !ok {
		return nil, nil, false
	}
	for id := range l.carried {
		ch.services[id] = true
	}
	if !l.closeOver(d, &ch, cfg) {
		return nil, nil, false
	}
	newData := l.subData(d, &ch)
	if ch.tasks += len(newData.Tasks); ch.tasks > maxLayerTasks {
		return nil, nil, false
	}
	sub := cfg
	sub.allNamesIndexed, sub.Serial = true, nil
	over, warnings := Build(newData, sub, cur)
	old, _ := Build(l.baseSubData(&ch), sub, nil)
	o, ok := l.checkOverlay(over, old, cfg)
	if !ok {
		return nil, nil, false
	}
	o.services, o.tasks = ch.services, ch.tasks
	s := l.assemble(d, o, old, cfg)
	if l.folding {
		l.stepChanges(cur, newData, ch.services)
	}
	l.carried = ch.services
	return s, warnings, true
}

package registry

import (
	"github.com/miekg/dns"
)

// A structural build (see tasknames.go) hands three jobs to a goroutine of
// its own while it collects, in batches as services are done:
//   - the task index: every task's name by its task ID, and whether two
//     tasks have one name, or another name looks like a task's (then the
//     build starts again with every name in the name index);
//   - the reverse names (see reverse.go);
//   - the one-record sets of tasks whose names are packed as added (see
//     directTask), each with its view.
// The collecting goroutine only appends to job lists. The side reads the
// key arena as far as the batch that hands it over, and writes only its
// own tables; once it is done, mergeSide adds them to the builder's.

// tixJob files a task's name under its task ID.
type tixJob struct {
	key keyRef // the task's name; its taskEnt is the job's number
}

// setJob is the one address record of a directly packed task.
type setJob struct {
	rec  addrRec
	name int32 // the task's name, whose view the set's is
	ttl  uint32
	pol  uint8
}

// sideBatch hands over what was added to the job lists since the last
// batch, with the key arena and the policies as they are now.
type sideBatch struct {
	keys []byte
	pols []resolvedPolicy
	tix  []tixJob
	ptrs []ptrJob
	sets []setJob
}

// side is the goroutine's state and result.
type side struct {
	cfg *Config
	rev *revBuilder

	tix    nameIndex
	theads []int32
	tnext  []int32  // by taskEnt: the next with the same task ID
	tkeys  []keyRef // by taskEnt: its name's key
	dup    bool     // two tasks have one name
	keys   []byte   // the latest batch's

	// The directly packed tasks' sets, set j is job j's.
	bytes []byte
	recs  []rec
	sets  []RRSet
}

// startSide starts the side goroutine for a build of tasks tasks.
func (b *builder) startSide(tasks int) {
	sd := &side{cfg: &b.cfg, rev: &revBuilder{prev: b.prev}}
	b.side = sd
	b.sideIn = make(chan sideBatch, 64)
	b.sideDone = make(chan struct{})
	go func() {
		defer close(b.sideDone)
		sd.tix = newNameIndex(tasks, tasks, 12*tasks)
		sd.theads = make([]int32, 0, tasks)
		sd.tnext = make([]int32, 0, tasks)
		sd.tkeys = make([]keyRef, 0, tasks)
		sd.bytes = make([]byte, 0, 16*tasks)
		sd.recs = make([]rec, 0, tasks)
		sd.sets = make([]RRSet, 0, tasks)
		sd.rev.start(tasks)
		for batch := range b.sideIn {
			sd.add(batch)
		}
		sd.rev.finish()
	}()
}

// sendSide hands the jobs added since the last batch to the side.
func (b *builder) sendSide() {
	if b.side == nil {
		return
	}
	b.sideIn <- sideBatch{
		keys: b.idx.keys,
		pols: b.resolved,
		tix:  b.tixJobs[b.sent.tix:len(b.tixJobs):len(b.tixJobs)],
		ptrs: b.ptrJobs[b.sent.ptrs:len(b.ptrJobs):len(b.ptrJobs)],
		sets: b.setJobs[b.sent.sets:len(b.setJobs):len(b.setJobs)],
	}
	b.sent.tix, b.sent.ptrs, b.sent.sets = len(b.tixJobs), len(b.ptrJobs), len(b.setJobs)
}

// endSide hands over the last jobs and waits for the side to finish; it
// reports whether the task index would not be exact.
func (b *builder) endSide() (collide bool) {
	if b.side == nil {
		return false
	}
	b.sendSide()
	close(b.sideIn)
	<-b.sideDone
	sd := b.side
	return sd.dup || b.taskNamesCollide(&sd.tix)
}

func (sd *side) add(batch sideBatch) {
	sd.keys = batch.keys
	for _, j := range batch.tix {
		sd.file(j)
	}
	sd.rev.keys, sd.rev.pols = batch.keys, batch.pols
	sd.rev.add(batch.ptrs)
	for i := range batch.sets {
		sd.packSet(&batch.sets[i], &batch.pols[batch.sets[i].pol])
	}
}

// file files the next task name entry (one per tixJob, in order) under its
// ID.
func (sd *side) file(j tixJob) {
	e := int32(len(sd.tkeys))
	key := sd.keys[j.key.off : j.key.off+uint32(j.key.n)]
	id := lastLabel(key)
	h := hashKey(id)
	x := sd.tix.find(id, h)
	if x < 0 {
		off := uint32(len(sd.tix.keys))
		sd.tix.keys = append(sd.tix.keys, id...)
		x = sd.tix.insert(off, len(id), h)
		sd.theads = append(sd.theads, -1)
	}
	// Task names with one ID differ before it, unless two tasks have one
	// name.
	for o := sd.theads[x]; o >= 0; o = sd.tnext[o] {
		k := sd.tkeys[o]
		if string(sd.keys[k.off:k.off+uint32(k.n)]) == string(key) {
			sd.dup = true
		}
	}
	sd.tkeys = append(sd.tkeys, j.key)
	sd.tnext = append(sd.tnext, sd.theads[x])
	sd.theads[x] = e
}

var localOne = []bool{true}

// packSet packs a directly packed task's record alone, as addrSet and
// finish do for a set of one record.
func (sd *side) packSet(j *setJob, pol *resolvedPolicy) {
	t := dns.TypeA
	if !j.rec.is4 {
		t = dns.TypeAAAA
	}
	off := len(sd.bytes)
	sd.bytes = packAddr(sd.bytes, j.ttl, j.rec.addr())
	w := j.rec.weight
	if w == 0 {
		w = 1 // weight 0 drains a record, unless nothing else is left
	}
	first := len(sd.recs)
	sd.recs = append(sd.recs, rec{off: uint32(off), n: uint16(len(sd.bytes) - off), weight: w, info: j.rec.info})
	var local []bool
	if j.rec.local {
		local = localOne
	}
	rs := RRSet{Type: t, TTL: j.ttl, first: uint32(first), n: 1, limit: int32(min(sd.cfg.MaxAnswers, 1<<30)), pol: pol.idx}
	rs.print = fingerprint(pol.name, sd.bytes, sd.recs[first:], local)
	sd.sets = append(sd.sets, rs)
}

// sideBatchServices is how many services' jobs go in one batch.
var sideBatchServices = 256

// mergeSide appends the side's tables to the builder's: the directly
// packed tasks' sets with a view each, the reverse names, and the task
// index.
func (b *builder) mergeSide() {
	sd := b.side
	setBase, vixBase := b.appendPacked(&table{bytes: sd.bytes, recs: sd.recs}, sd.sets), int32(len(b.vix))
	for j := range b.setJobs {
		v := viewIx{a: -1, aaaa: -1, srv: -1, ptr: -1}
		if sd.sets[j].Type == dns.TypeA {
			v.a = setBase + int32(j)
		} else {
			v.aaaa = setBase + int32(j)
		}
		b.vix = append(b.vix, v)
		e := &b.idx.names[b.setJobs[j].name]
		e.view, e.nview = uint32(vixBase+int32(j)), 1
	}
	b.merge(sd.rev)
	b.tix, b.theads = sd.tix, sd.theads
	for e := range b.tents {
		b.tents[e].next = sd.tnext[e]
	}
}

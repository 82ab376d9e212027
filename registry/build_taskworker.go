package registry

import (
	"github.com/miekg/dns"
)

// A build with task indexes hands three jobs to a goroutine of its own,
// the task worker, while it collects, in batches as services are done:
//   - the task index: every task's name by its task ID, and whether two
//     tasks have one name (then the build starts again with every name in
//     the name index);
//   - the reverse names (see build_reverse.go);
//   - the one-record sets of single-record tasks (see singleRecordTask),
//     each with its view.
// The collecting goroutine only appends to job lists. The worker reads the
// key arena as far as the batch that hands it over, and writes only its
// own tables; once it is done, mergeWorker adds them to the builder's.

// taskIDJob files a task's name under its task ID.
type taskIDJob struct {
	key keyRef // the task's name; its taskEnt is the job's number
}

// singleSetJob is the one address record of a single-record task.
type singleSetJob struct {
	rec  addrRec
	name int32 // the task's name, whose view the set's is
	ttl  uint32
	pol  uint8
}

// workerJobs are the jobs listed for the worker, and how many of each it
// has been sent.
type workerJobs struct {
	ids  []taskIDJob
	ptrs []ptrJob
	sets []singleSetJob
	sent struct{ ids, ptrs, sets int }
}

func newWorkerJobs(tasks, services int) workerJobs {
	return workerJobs{
		ids:  make([]taskIDJob, 0, tasks),
		sets: make([]singleSetJob, 0, tasks),
		ptrs: make([]ptrJob, 0, tasks+services),
	}
}

// workerBatch hands over what was added to the job lists since the last
// batch, with the key arena and the policies as they are now.
type workerBatch struct {
	keys []byte
	pols []resolvedPolicy
	ids  []taskIDJob
	ptrs []ptrJob
	sets []singleSetJob
}

// taskWorker is the worker goroutine's state and result.
type taskWorker struct {
	in   chan workerBatch
	done chan struct{}

	maxAnswers int
	reverse    *reverseBuilder

	ids      nameIndex // task IDs; entry x heads the list heads[x]
	heads    []int32
	next     []int32  // by taskEnt: the next with the same task ID
	nameKeys []keyRef // by taskEnt: its name's key
	dup      bool     // two tasks have one name
	keys     []byte   // the latest batch's key arena

	// The single-record tasks' sets, set j is job j's.
	bytes []byte
	recs  []rec
	sets  []RRSet
}

// workerBatchServices is how many services' jobs go in one batch.
var workerBatchServices = 256

// startWorker starts the task worker for a build of tasks tasks.
func (b *builder) startWorker(tasks int) {
	w := &taskWorker{
		in:         make(chan workerBatch, 64),
		done:       make(chan struct{}),
		maxAnswers: b.cfg.MaxAnswers,
		reverse:    &reverseBuilder{prev: b.prev},
	}
	b.worker = w
	go func() {
		defer close(w.done)
		w.ids = newNameIndex(tasks, tasks, 12*tasks)
		w.heads = make([]int32, 0, tasks)
		w.next = make([]int32, 0, tasks)
		w.nameKeys = make([]keyRef, 0, tasks)
		w.bytes = make([]byte, 0, 16*tasks)
		w.recs = make([]rec, 0, tasks)
		w.sets = make([]RRSet, 0, tasks)
		w.reverse.start(tasks)
		for batch := range w.in {
			w.add(batch)
		}
		w.reverse.finish()
	}()
}

// sendToWorker hands the jobs added since the last batch to the worker.
func (b *builder) sendToWorker() {
	if b.worker == nil {
		return
	}
	j := &b.jobs
	b.worker.in <- workerBatch{
		keys: b.collected.index.keys,
		pols: b.policies.resolved,
		ids:  j.ids[j.sent.ids:len(j.ids):len(j.ids)],
		ptrs: j.ptrs[j.sent.ptrs:len(j.ptrs):len(j.ptrs)],
		sets: j.sets[j.sent.sets:len(j.sets):len(j.sets)],
	}
	j.sent.ids, j.sent.ptrs, j.sent.sets = len(j.ids), len(j.ptrs), len(j.sets)
}

// stopWorker hands over the last jobs and waits for the worker to finish;
// it reports whether the task index would not be exact.
func (b *builder) stopWorker() (collide bool) {
	if b.worker == nil {
		return false
	}
	b.sendToWorker()
	close(b.worker.in)
	<-b.worker.done
	return b.worker.dup || b.taskNamesCollide(&b.worker.ids)
}

func (w *taskWorker) add(batch workerBatch) {
	w.keys = batch.keys
	for _, j := range batch.ids {
		w.file(j)
	}
	w.reverse.keys, w.reverse.pols = batch.keys, batch.pols
	w.reverse.add(batch.ptrs)
	for i := range batch.sets {
		w.packSet(&batch.sets[i], &batch.pols[batch.sets[i].pol])
	}
}

// file files the next task name entry (one per taskIDJob, in order) under
// its ID.
func (w *taskWorker) file(j taskIDJob) {
	e := int32(len(w.nameKeys))
	key := w.keys[j.key.off : j.key.off+uint32(j.key.n)]
	id := lastLabel(key)
	h := hashKey(id)
	x := w.ids.find(id, h)
	if x < 0 {
		off := uint32(len(w.ids.keys))
		w.ids.keys = append(w.ids.keys, id...)
		x = w.ids.insert(off, len(id), h)
		w.heads = append(w.heads, -1)
	}
	// Task names with one ID differ before it, unless two tasks have one
	// name.
	for o := w.heads[x]; o >= 0; o = w.next[o] {
		k := w.nameKeys[o]
		if string(w.keys[k.off:k.off+uint32(k.n)]) == string(key) {
			w.dup = true
		}
	}
	w.nameKeys = append(w.nameKeys, j.key)
	w.next = append(w.next, w.heads[x])
	w.heads[x] = e
}

// localOne is a single record's locality slice as addrSet makes it.
var localOne = [len(tiers)][]locality{sameLabel: {sameLabel}, thisNode: {thisNode}}

// packSet packs a single-record task's record alone, as addrSet and
// finish do for a set of one record.
func (w *taskWorker) packSet(j *singleSetJob, pol *resolvedPolicy) {
	t := dns.TypeA
	if !j.rec.is4 {
		t = dns.TypeAAAA
	}
	off := len(w.bytes)
	w.bytes = packAddr(w.bytes, j.ttl, j.rec.addr())
	wt := j.rec.weight
	if wt == 0 {
		wt = 1 // weight 0 drains a record, unless nothing else is left
	}
	first := len(w.recs)
	w.recs = append(w.recs, rec{off: uint32(off), n: uint16(len(w.bytes) - off), weight: wt, info: j.rec.info})
	local := localOne[j.rec.local]
	rs := RRSet{Type: t, TTL: j.ttl, first: uint32(first), n: 1, limit: int32(min(w.maxAnswers, 1<<30)), pol: pol.idx}
	rs.print = fingerprint(pol.name, w.bytes, w.recs[first:], local)
	w.sets = append(w.sets, rs)
}

// mergeWorker appends the worker's tables to the builder's: the
// single-record tasks' sets with a view each, the reverse names, and the
// task index.
func (b *builder) mergeWorker() {
	w := b.worker
	setBase, viewBase := b.appendPacked(&table{bytes: w.bytes, recs: w.recs}, w.sets), int32(len(b.packedViews))
	for j := range b.jobs.sets {
		v := noView
		if w.sets[j].Type == dns.TypeA {
			v.a = setBase + int32(j)
		} else {
			v.aaaa = setBase + int32(j)
		}
		b.packedViews = append(b.packedViews, v)
		e := &b.collected.index.names[b.jobs.sets[j].name]
		e.view, e.nview = uint32(viewBase+int32(j)), 1
	}
	b.mergeReverse(w.reverse)
	b.taskIndex.ids, b.taskIndex.heads = w.ids, w.heads
	for e := range b.taskIndex.ents {
		b.taskIndex.ents[e].next = w.next[e]
	}
}

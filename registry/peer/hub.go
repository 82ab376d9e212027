package peer

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
)

// hub is a manager instance's side of the protocol, shared by all its
// followers: the versions it published, a bounded history of encoded
// changes for followers that resume or catch up, and the whole data of
// the latest version, encoded and compressed once when a follower needs
// it. Followers hold only a position in it, never a copy.
type hub struct {
	epoch     uint64
	log       *logrus.Entry
	maxCount  int
	maxBytes  int
	chunkSize int

	// pending is the latest Data published and not yet diffed; kick
	// wakes run. Published never blocks on a diff.
	pending atomic.Pointer[registry.Data]
	kick    chan struct{}

	mu      sync.Mutex
	head    uint64  // counter of the latest version; 0 before any data
	cur     cluster // the data at head
	base    uint64  // history holds the changes to base+1 … head
	history []encoded
	// tooLarge is the last version whose change was too large to send
	// as one: the history starts at it.
	tooLarge  uint64
	histBytes int
	full      *fullState
	// wake is closed when head changes, and replaced.
	wake      chan struct{}
	sourceErr string
	// keepalives holds the keepalive of head and sourceErr, encoded once
	// per pacing; emptied when either changes.
	keepalives map[pacing]encoded

	changes  atomic.Uint64 // changes published
	fulls    atomic.Uint64 // whole-data encodings made
	rejected atomic.Uint64 // publishes that could not be sent (see process)
	encodeNs atomic.Int64  // CPU time of the last change's diff and encoding
}

// fullState is the whole data of one version, encoded on first use.
type fullState struct {
	version uint64
	data    cluster
	once    sync.Once
	size    uint64
	chunks  []encoded
	err     error
}

func newHub(log *logrus.Entry, maxCount, maxBytes, chunkSize int) *hub {
	var b [8]byte
	_, _ = rand.Read(b[:])
	h := &hub{
		epoch: binary.LittleEndian.Uint64(b[:]), log: log,
		maxCount: maxCount, maxBytes: maxBytes, chunkSize: chunkSize,
		kick: make(chan struct{}, 1), wake: make(chan struct{}),
		keepalives: map[pacing]encoded{},
	}
	return h
}

// publish hands over the Data of a new snapshot; it does not block.
func (h *hub) publish(d *registry.Data) {
	h.pending.Store(d)
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// run diffs each published Data against the last until ctx is done.
// Publishes that come while a diff runs are taken together.
func (h *hub) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		}
		if d := h.pending.Swap(nil); d != nil {
			h.process(d)
		}
	}
}

// process makes a new version of d, if it differs from the last.
func (h *hub) process(d *registry.Data) {
	start := time.Now()
	next, err := clusterOf(d)
	if err != nil {
		// A change by ID cannot say which of two objects with one ID
		// changed. Followers keep the last version they were sent; the
		// next publish is diffed against it.
		h.rejected.Add(1)
		h.log.WithError(err).Error("registry data not sent to followers")
		return
	}
	h.mu.Lock()
	head, prev := h.head, h.cur
	h.mu.Unlock()
	if head == 0 {
		h.first(next)
		return
	}
	ch := diff(&prev, &next)
	if ch == nil {
		return
	}
	ch.Version = &peerpb.Version{Epoch: h.epoch, Counter: head + 1}
	msg, err := encode(&peerpb.ManagerMessage{Msg: &peerpb.ManagerMessage_Change{Change: ch}})
	if err != nil {
		// Followers keep the last version they can be sent; the next
		// publish is diffed against it.
		h.rejected.Add(1)
		h.log.WithError(err).Error("registry change not sent to followers")
		return
	}
	h.mu.Lock()
	h.head++
	h.cur = next
	if len(msg) > chunkSize {
		// Larger than a message a follower takes (chunkSize): followers
		// behind this version get the whole data of it instead.
		h.tooLarge = h.head
		msg = nil
	}
	h.history = append(h.history, msg)
	h.histBytes += len(msg)
	for len(h.history) > 0 && (len(h.history) > h.maxCount || h.histBytes > h.maxBytes || h.base < h.tooLarge) {
		h.histBytes -= len(h.history[0])
		h.history[0] = nil
		h.history = h.history[1:]
		h.base++
	}
	h.advanceLocked()
	h.mu.Unlock()
	h.changes.Add(1)
	h.encodeNs.Store(int64(time.Since(start)))
}

// first makes the first version, which every follower gets whole.
func (h *hub) first(c cluster) {
	h.mu.Lock()
	h.head, h.base, h.cur = 1, 1, c
	h.advanceLocked()
	h.mu.Unlock()
}

// advanceLocked wakes the senders after head moved; h.mu is held.
func (h *hub) advanceLocked() {
	clear(h.keepalives)
	close(h.wake)
	h.wake = make(chan struct{})
}

// sourceSynced records whether the manager's own source last synced.
func (h *hub) sourceSynced(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if msg == h.sourceErr {
		return
	}
	h.sourceErr = msg
	clear(h.keepalives)
}

// keepalive returns the keepalive of the latest version with pacing p,
// encoded once for every follower paced so.
func (h *hub) keepalive(p pacing) encoded {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b, ok := h.keepalives[p]; ok {
		return b
	}
	b := h.encodeKeepalive(p)
	if len(h.keepalives) >= 8 { // the follower count moved the pacing
		clear(h.keepalives)
	}
	h.keepalives[p] = b
	return b
}

// encodeKeepalive encodes the keepalive of head; h.mu is held.
func (h *hub) encodeKeepalive(p pacing) encoded {
	m := &peerpb.ManagerMessage{Msg: &peerpb.ManagerMessage_Keepalive{Keepalive: &peerpb.Keepalive{
		Head: &peerpb.Version{Epoch: h.epoch, Counter: h.head}, SourceError: h.sourceErr,
		IntervalMs: uint32(p.interval / time.Millisecond), TimeoutMs: uint32(p.timeout / time.Millisecond),
	}}}
	b, err := encode(m)
	if err != nil {
		// An error message that is not UTF-8: say so without it.
		m.GetKeepalive().SourceError = "source failed (message not UTF-8)"
		b, _ = encode(m)
	}
	return b
}

// position is what a sender needs to know of the hub at one moment.
type position struct {
	head, base uint64
	wake       chan struct{}
}

func (h *hub) position() position {
	h.mu.Lock()
	defer h.mu.Unlock()
	return position{head: h.head, base: h.base, wake: h.wake}
}

// lagReason says why a follower at counter, which the history no longer
// serves, gets the whole data: the change after it was too large to send,
// or it fell behind.
func (h *hub) lagReason(counter uint64) peerpb.ResetReason {
	h.mu.Lock()
	defer h.mu.Unlock()
	if counter+1 == h.tooLarge {
		return peerpb.ResetReason_RESET_REASON_HISTORY
	}
	return peerpb.ResetReason_RESET_REASON_LAGGED
}

// changesAfter returns the encoded changes after counter up to head, or
// ok false when the history no longer holds them all.
func (h *hub) changesAfter(counter uint64) (msgs []encoded, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if counter < h.base || counter > h.head {
		return nil, false
	}
	return append([]encoded(nil), h.history[counter-h.base:h.head-h.base]...), true
}

// fullNow returns the whole data of the head version, encoded once
// however many followers ask.
func (h *hub) fullNow() *fullState {
	h.mu.Lock()
	f := h.full
	if f == nil || f.version != h.head {
		f = &fullState{version: h.head, data: h.cur}
		h.full = f
	}
	h.mu.Unlock()
	f.once.Do(func() { h.encodeFull(f) })
	return f
}

// encodeFull encodes, compresses and cuts into chunks the data of f.
func (h *hub) encodeFull(f *fullState) {
	raw, err := proto.Marshal(clusterPB(&f.data))
	if err != nil {
		f.err = err
		h.log.WithError(err).Error("registry data not sent to followers")
		return
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	z := buf.Bytes()
	f.size = uint64(len(z))
	for off := 0; off < len(z); off += h.chunkSize {
		end := min(off+h.chunkSize, len(z))
		msg, _ := encode(&peerpb.ManagerMessage{Msg: &peerpb.ManagerMessage_Chunk{Chunk: &peerpb.Chunk{Data: z[off:end]}}})
		f.chunks = append(f.chunks, msg)
	}
	h.fulls.Add(1)
	h.log.WithFields(logrus.Fields{
		"version": f.version, "bytes": len(raw), "compressed": len(z),
	}).Debug("registry encoded for followers")
}

// resetMsg is the header of a whole data sent to one follower.
func (h *hub) resetMsg(f *fullState, reason peerpb.ResetReason) (encoded, error) {
	return encode(&peerpb.ManagerMessage{Msg: &peerpb.ManagerMessage_Reset_{Reset_: &peerpb.Reset{
		Version: &peerpb.Version{Epoch: h.epoch, Counter: f.version}, Reason: reason, Size: f.size,
	}}})
}

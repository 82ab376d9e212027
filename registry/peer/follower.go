package peer

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// FollowerConfig configures a follower.
type FollowerConfig struct {
	// Managers are the peer addresses (host:port) of manager instances;
	// the follower follows one at a time and moves to another when it
	// goes away (required).
	Managers []string
	// Credentials are the node's Swarm certificates (required).
	Credentials *swarmpki.Credentials
	// Local tells what only this node knows (nil: nothing).
	Local Local
	Log   *logrus.Entry
	// Keepalive is how often the follower acks (DefaultKeepalive) and
	// PeerTimeout the silence after which a manager is gone
	// (DefaultPeerTimeout), until the manager instance tells its own in a
	// keepalive (it sets them by its follower count); an older instance
	// tells none, and these hold.
	Keepalive, PeerTimeout time.Duration
	// DialTimeout bounds one connection attempt (default 2 s).
	DialTimeout time.Duration
	// Dial opens the connection to a manager (nil: TCP).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// maxFullSize bounds the whole data a manager may announce.
const maxFullSize = 1 << 30

// followerWindow is the flow-control window a follower gives its manager,
// per stream and per connection.
const followerWindow = 2 * chunkSize

// Follower is a registry.Source that follows a manager instance's
// registry: the whole data once, then each change, with its own node's ID
// and containers. While no manager can be reached it reports Failed and
// the last data keeps serving; it never delivers empty Data for that.
type Follower struct {
	cfg FollowerConfig
	log *logrus.Entry

	hints chan *peerpb.FollowerMessage
	// others holds the Rereads for the instances not followed
	// (hintothers.go).
	others chan *peerpb.Reread

	mu sync.Mutex
	st FollowerStatus
}

// FollowerStatus is what a follower reports for readiness and metrics.
type FollowerStatus struct {
	// Manager is the address of the manager instance followed, and
	// ManagerNode its node ID; Connected is false while none is.
	Manager, ManagerNode string
	Connected            bool
	// Since is when the current (or last) session began.
	Since time.Time
	// Epoch and Counter are the version applied; Head is the latest
	// counter the manager announced in that epoch.
	Epoch, Counter, Head uint64
	// LastHeard is when the manager last said anything.
	LastHeard time.Time
	// Switches counts sessions begun with another manager than the one
	// before.
	Switches uint64
	// LastError is why the last session ended or failed.
	LastError string
}

// Behind is how many changes the follower lacks of what its manager
// announced.
func (s FollowerStatus) Behind() uint64 { return s.Head - min(s.Counter, s.Head) }

// NewFollower checks cfg and returns a follower.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	if len(cfg.Managers) == 0 {
		return nil, errors.New("follower: no manager address")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("follower: no credentials")
	}
	for i, a := range cfg.Managers {
		addr, err := PeerAddr(a, DefaultPort)
		if err != nil {
			return nil, err
		}
		cfg.Managers[i] = addr
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	if cfg.Local == nil {
		cfg.Local = StaticLocal{}
	}
	cfg.Keepalive = orDefault(cfg.Keepalive, DefaultKeepalive)
	cfg.PeerTimeout = orDefault(cfg.PeerTimeout, DefaultPeerTimeout)
	cfg.DialTimeout = orDefault(cfg.DialTimeout, 2*time.Second)
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: cfg.DialTimeout}
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return &Follower{cfg: cfg, log: cfg.Log.WithField("component", "follower"),
		hints: make(chan *peerpb.FollowerMessage, 64), others: make(chan *peerpb.Reread, otherHintsQueue)}, nil
}

// PeerAddr returns addr as host:port, with port when addr names none.
func PeerAddr(addr string, port int) (string, error) {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr, nil
	}
	if addr == "" {
		return "", errors.New("manager address is empty")
	}
	return net.JoinHostPort(addr, strconv.Itoa(port)), nil
}

// PeerAddrs returns the peer addresses of managers known by their Swarm
// addresses (Engine /info Swarm.RemoteManagers, host:2377): the same hosts
// on the peer port.
func PeerAddrs(swarmAddrs []string, port int) []string {
	out := make([]string, 0, len(swarmAddrs))
	for _, a := range swarmAddrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out
}

// Status reports which manager the follower follows and how far behind it
// is.
func (f *Follower) Status() FollowerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// Reread asks the manager followed, and every other manager instance
// (hintothers.go), to read these services and nodes again; it returns
// false when the hint to the one followed was dropped (too many queued).
func (f *Follower) Reread(serviceIDs, nodeIDs []string) bool {
	return f.reread(&peerpb.Reread{ServiceIds: serviceIDs, NodeIds: nodeIDs})
}

func (f *Follower) reread(m *peerpb.Reread) bool {
	if len(f.cfg.Managers) > 1 {
		select {
		case f.others <- m:
		default:
			f.log.Debug("re-read hint to the other manager instances dropped: too many queued")
		}
	}
	return f.hint(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Reread{Reread: m}})
}

// Reachability tells the manager followed which nodes this node can reach;
// it returns false when the hint was dropped.
func (f *Follower) Reachability(reachable, unreachable []string) bool {
	return f.hint(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Reachability{Reachability: &peerpb.Reachability{Reachable: reachable, Unreachable: unreachable}}})
}

func (f *Follower) hint(m *peerpb.FollowerMessage) bool {
	select {
	case f.hints <- m:
		return true
	default:
		return false
	}
}

// held is what the follower holds: the version applied, the manager's
// cluster data at it, and the local node's state.
type held struct {
	epoch, counter uint64
	cluster        cluster
	have           bool
	local          LocalState
	// died holds the addresses of this node's task containers that went
	// away, until the manager's data says so too (reread.go).
	died map[netip.Addr]time.Time
}

func (h *held) publish(sink registry.Sink) { sink.Update(h.data(time.Now())) }

// Run implements registry.Source.
func (f *Follower) Run(ctx context.Context, sink registry.Sink) error {
	sink.Describe(registry.SourceInfo{Kind: "follower", Stales: true})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.hintOthers(ctx)
	locals := make(chan LocalState, 1)
	go func() {
		err := f.cfg.Local.Watch(ctx, func(ls LocalState) {
			select {
			case <-locals: // the newer state replaces one not yet taken
			default:
			}
			locals <- ls
		})
		if err != nil && ctx.Err() == nil {
			f.log.WithError(err).Error("local node state no longer watched")
		}
	}()

	var h held
	order := append([]string(nil), f.cfg.Managers...)
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var (
		prev        string // the manager followed last
		unreachable bool   // "no manager reachable" was logged
		rounds      int    // rounds in a row in which no manager answered
		failed      int    // attempts since the last session that reached no manager
	)
	for i := 0; ; i++ {
		addr := order[i%len(order)]
		established, err := f.session(ctx, addr, &h, sink, locals, prev)
		if ctx.Err() != nil {
			return nil
		}
		f.mu.Lock()
		f.st.Connected, f.st.LastError = false, err.Error()
		f.mu.Unlock()
		sink.Failed(fmt.Errorf("follow manager %s: %w", addr, err))
		if established {
			// The others next, the one lost last.
			f.log.WithField("manager", addr).WithError(err).Warn("manager lost")
			prev, unreachable, rounds, failed = addr, false, 0, 0
			continue
		}
		f.log.WithField("manager", addr).WithError(err).Debug("manager not reachable")
		if failed++; failed%len(order) != 0 {
			continue
		}
		// Every manager tried since the last session, none answered:
		// wait before the next round.
		if !unreachable {
			f.log.WithFields(logrus.Fields{"managers": order}).WithError(err).Warn("no manager reachable; serving the last data")
			unreachable = true
		}
		if !f.wait(ctx, retryDelay(rounds), &h, sink, locals) {
			return nil
		}
		rounds++
	}
}

// retryDelay is the wait after n rounds in a row without an answer:
// exponential from 250 ms to 5 s, with jitter so that many followers do
// not reach a recovering manager at once.
func retryDelay(n int) time.Duration {
	d := 5 * time.Second
	if n < 5 {
		d = 250 * time.Millisecond << n
	}
	return d/2 + rand.N(d/2+1)
}

// wait waits d, publishing local changes meanwhile; false when ctx ended.
func (f *Follower) wait(ctx context.Context, d time.Duration, h *held, sink registry.Sink, locals <-chan LocalState) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case ls := <-locals:
			f.localChanged(h, ls, sink)
		}
	}
}

// session follows the manager at addr until the stream fails; established
// tells whether the manager answered.
func (f *Follower) session(ctx context.Context, addr string, h *held, sink registry.Sink, locals <-chan LocalState, prev string) (established bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	conn, err := f.dial(addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	// Nothing heard within a dial and a keepalive: gone.
	answer := time.AfterFunc(f.cfg.DialTimeout+f.cfg.PeerTimeout, func() { cancel(errors.New("no answer")) })
	defer answer.Stop()
	stream, err := f.hello(ctx, conn, h)
	if err != nil {
		return false, err
	}
	pace := newPaced(pacing{interval: f.cfg.Keepalive, timeout: f.cfg.PeerTimeout})
	msgs, recvErr, heard := receive(ctx, stream, pace)
	go f.ack(ctx, cancel, stream, pace)

	var (
		s     = sessionState{f: f, addr: addr, h: h, sink: sink}
		tick  = time.NewTicker(min(f.cfg.Keepalive, pace.timeout()/3))
		dirty bool
	)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return established, causeOr(ctx, ctx.Err())
		case err := <-recvErr:
			return established, causeOr(ctx, err)
		case ls := <-locals:
			f.localChanged(h, ls, sink)
		case now := <-tick.C:
			if silent := now.Sub(time.Unix(0, heard.Load())); established && len(msgs) == 0 && silent > pace.timeout() {
				return true, fmt.Errorf("manager silent for %s", silent.Round(time.Millisecond))
			}
			// Checked three times a timeout, as the manager tells it.
			tick.Reset(pace.timeout() / 3)
		case m := <-msgs:
			if !established {
				established = true
				answer.Stop()
				sink.Describe(registry.SourceInfo{Kind: "follower", Origin: addr, Stales: true})
				f.following(stream, addr, prev, m)
			}
			// Apply what has come, then build once.
			for {
				changed, err := s.handle(m)
				if err != nil {
					return true, err
				}
				dirty = dirty || changed
				if len(msgs) == 0 {
					break
				}
				m = <-msgs
			}
			if dirty && s.full == nil {
				h.publish(sink)
				dirty = false
			}
			if s.decoded && s.full == nil {
				// Decoding whole data leaves garbage several times the
				// registry's size (the compressed bytes, the protobuf
				// tree): hand it back to the system now, so that a
				// follower holds no more memory than its manager does.
				debug.FreeOSMemory()
				s.decoded = false
			}
		}
	}
}

// dial makes the gRPC client of the manager instance at addr, with the
// node's certificate.
func (f *Follower) dial(addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(credentials.NewTLS(f.cfg.Credentials.ClientConfig())),
		grpc.WithContextDialer(f.cfg.Dial),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: f.cfg.DialTimeout, Backoff: backoff.DefaultConfig}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(chunkSize+64<<10)),
		// Windows of a fixed size, two chunks of whole data: gRPC's window
		// estimation would answer each message after a quiet spell, each
		// keepalive, with a ping of its own.
		grpc.WithStaticStreamWindowSize(followerWindow),
		grpc.WithStaticConnWindowSize(followerWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// hello opens the follow stream and says who follows and from which
// version it resumes.
func (f *Follower) hello(ctx context.Context, conn *grpc.ClientConn, h *held) (peerpb.Registry_FollowClient, error) {
	stream, err := peerpb.NewRegistryClient(conn).Follow(ctx)
	if err != nil {
		return nil, causeOr(ctx, err)
	}
	hello := &peerpb.Hello{Protocol: ProtocolVersion, NodeId: h.local.NodeID, Paced: true}
	if hello.NodeId == "" {
		hello.NodeId = f.cfg.Credentials.Identity().NodeID
	}
	if h.have {
		hello.Last = &peerpb.Version{Epoch: h.epoch, Counter: h.counter}
	}
	if err := stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Hello{Hello: hello}}); err != nil {
		return nil, causeOr(ctx, err)
	}
	return stream, nil
}

// receive reads the stream on a goroutine of its own until it fails or
// ctx ends, and takes each keepalive's pacing; heard is when a message
// last came, in Unix nanoseconds.
func receive(ctx context.Context, stream peerpb.Registry_FollowClient, pace *paced) (<-chan *peerpb.ManagerMessage, <-chan error, *atomic.Int64) {
	msgs := make(chan *peerpb.ManagerMessage, 64)
	recvErr := make(chan error, 1)
	heard := new(atomic.Int64)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			heard.Store(time.Now().UnixNano())
			if k := m.GetKeepalive(); k != nil {
				pace.keepalive(k)
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs, recvErr, heard
}

// causeOr returns why ctx was canceled, if it was, else err.
func causeOr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// following records and logs the start of a session.
func (f *Follower) following(stream grpc.ClientStream, addr, prev string, first *peerpb.ManagerMessage) {
	node := ""
	if p, ok := grpcpeer.FromContext(stream.Context()); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			if id, err := swarmpki.PeerIdentity(info.State); err == nil {
				node = id.NodeID
			}
		}
	}
	f.mu.Lock()
	if f.st.Manager != addr && f.st.Manager != "" {
		f.st.Switches++
	}
	f.st.Manager, f.st.ManagerNode, f.st.Connected, f.st.Since, f.st.LastError = addr, node, true, time.Now(), ""
	f.mu.Unlock()
	fields := logrus.Fields{"manager": addr, "node": node}
	if r := first.GetReset_(); r != nil {
		fields["data"] = "whole (" + resetWhy(r.Reason) + ")"
	} else {
		fields["data"] = "resumed"
	}
	if prev != "" && prev != addr {
		fields["previous"] = prev
	}
	f.log.WithFields(fields).Info("following manager")
}

func resetWhy(r peerpb.ResetReason) string {
	switch r {
	case peerpb.ResetReason_RESET_REASON_FIRST:
		return "first"
	case peerpb.ResetReason_RESET_REASON_EPOCH:
		return "another manager instance"
	case peerpb.ResetReason_RESET_REASON_HISTORY:
		return "history no longer covers our version"
	case peerpb.ResetReason_RESET_REASON_LAGGED:
		return "fell behind"
	}
	return r.String()
}

// ack sends an ack each keepalive interval, as the manager instance
// paces them, and hints as they come.
func (f *Follower) ack(ctx context.Context, cancel context.CancelCauseFunc, stream peerpb.Registry_FollowClient, pace *paced) {
	tick := time.NewTicker(pace.interval())
	defer tick.Stop()
	for {
		var m *peerpb.FollowerMessage
		select {
		case <-ctx.Done():
			return
		case m = <-f.hints:
		case <-pace.changed:
			tick.Reset(pace.interval())
			continue
		case <-tick.C:
			st := f.Status()
			m = &peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Ack{Ack: &peerpb.Ack{
				Applied: &peerpb.Version{Epoch: st.Epoch, Counter: st.Counter},
			}}}
		}
		if err := stream.Send(m); err != nil {
			cancel(fmt.Errorf("send to manager: %w", err))
			return
		}
	}
}

// sessionState is one session's reading of the stream.
type sessionState struct {
	f    *Follower
	addr string
	h    *held
	sink registry.Sink
	// full is the whole data being received; nil: none.
	full *assembly
	// decoded: whole data was decoded since the last publish.
	decoded bool
}

type assembly struct {
	version *peerpb.Version
	reason  peerpb.ResetReason
	size    uint64
	buf     []byte
}

// handle applies one message; changed tells whether the data changed.
func (s *sessionState) handle(m *peerpb.ManagerMessage) (changed bool, err error) {
	h := s.h
	switch m := m.Msg.(type) {
	case *peerpb.ManagerMessage_Reset_:
		r := m.Reset_
		if r.Size > maxFullSize || r.GetVersion().GetCounter() == 0 {
			return false, fmt.Errorf("manager announced whole data of %d bytes at version %d", r.Size, r.GetVersion().GetCounter())
		}
		s.full = &assembly{version: r.Version, reason: r.Reason, size: r.Size, buf: make([]byte, 0, r.Size)}
		return false, nil
	case *peerpb.ManagerMessage_Chunk:
		if s.full == nil {
			return false, errors.New("manager sent a chunk outside whole data")
		}
		a := s.full
		if uint64(len(a.buf)+len(m.Chunk.Data)) > a.size {
			return false, errors.New("manager sent more whole data than it announced")
		}
		a.buf = append(a.buf, m.Chunk.Data...)
		if uint64(len(a.buf)) < a.size {
			return false, nil
		}
		s.full = nil
		s.decoded = true
		c, err := decodeFull(a.buf)
		if err != nil {
			return false, fmt.Errorf("whole data of version %d: %w", a.version.Counter, err)
		}
		same := h.have && h.cluster.equal(&c)
		h.epoch, h.counter, h.cluster, h.have = a.version.Epoch, a.version.Counter, c, true
		s.f.applied(h, a.version.Counter)
		if same {
			// Another instance with the same data: nothing to build.
			s.sink.Synced(0)
		}
		return !same, nil
	case *peerpb.ManagerMessage_Change:
		v := m.Change.GetVersion()
		if s.full != nil || !h.have || v.GetEpoch() != h.epoch || v.GetCounter() != h.counter+1 {
			return false, fmt.Errorf("manager sent change %d of epoch %x; we hold %d of %x", v.GetCounter(), v.GetEpoch(), h.counter, h.epoch)
		}
		c, err := h.cluster.apply(m.Change)
		if err != nil {
			// Ask for the whole data at the next session.
			h.have = false
			return false, fmt.Errorf("change %d: %w", v.Counter, err)
		}
		h.cluster, h.counter = c, v.Counter
		s.f.applied(h, v.Counter)
		return true, nil
	case *peerpb.ManagerMessage_Keepalive:
		head := m.Keepalive.GetHead()
		s.f.mu.Lock()
		s.f.st.LastHeard = time.Now()
		if head.GetEpoch() == h.epoch {
			s.f.st.Head = max(head.GetCounter(), s.f.st.Counter)
		}
		s.f.mu.Unlock()
		if h.have && s.full == nil && head.GetEpoch() == h.epoch && head.GetCounter() == h.counter {
			if e := m.Keepalive.SourceError; e != "" {
				s.sink.Failed(fmt.Errorf("manager %s cannot read the Swarm: %s", s.addr, e))
			} else {
				s.sink.Synced(0)
			}
		}
		return false, nil
	}
	return false, nil
}

// applied records the version now held.
func (f *Follower) applied(h *held, counter uint64) {
	f.mu.Lock()
	if f.st.Epoch != h.epoch {
		f.st.Head = 0 // announced by another instance
	}
	f.st.Epoch, f.st.Counter, f.st.LastHeard = h.epoch, counter, time.Now()
	f.st.Head = max(f.st.Head, counter)
	f.mu.Unlock()
}

// decodeFull decompresses and decodes whole data.
func decodeFull(z []byte) (cluster, error) {
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return cluster{}, err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 4*maxFullSize))
	if err != nil {
		return cluster{}, err
	}
	var m peerpb.ClusterData
	if err := proto.Unmarshal(raw, &m); err != nil {
		return cluster{}, err
	}
	return clusterOfPB(&m)
}

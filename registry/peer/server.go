package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// ProtocolVersion is the version of the follow protocol this package
// speaks (Hello.protocol).
const ProtocolVersion = 1

// Defaults of ServerConfig and FollowerConfig.
const (
	DefaultKeepalive   = time.Second
	DefaultPeerTimeout = 3 * time.Second
	// DefaultKeepaliveFollowers is how many followers a manager instance
	// keeps alive at its base interval; see ServerConfig.
	DefaultKeepaliveFollowers = 2000
	DefaultStallTimeout       = 10 * time.Second
	DefaultHistory            = 1024
	DefaultHistoryBytes       = 16 << 20
	// DefaultPort is the peer listener's port when --peer-listen names
	// none.
	DefaultPort = 5354
	chunkSize   = 1 << 20
)

// ServerConfig configures a manager instance's peer server.
type ServerConfig struct {
	// Credentials are the node's Swarm certificates (required).
	Credentials *swarmpki.Credentials
	Log         *logrus.Entry
	// Keepalive is how often a quiet stream carries a keepalive, and a
	// follower acks (DefaultKeepalive); a follower silent for PeerTimeout
	// (DefaultPeerTimeout) is gone. Both hold for up to
	// KeepaliveFollowers followers (DefaultKeepaliveFollowers; negative:
	// any number) and grow by their base values for each
	// KeepaliveFollowers more, so that keepalives cost about as much for
	// any number of followers. Paced followers are told both in each
	// keepalive; older ones are kept at the base values.
	Keepalive, PeerTimeout time.Duration
	KeepaliveFollowers     int
	// StallTimeout drops a follower that has not taken a message for that
	// long (DefaultStallTimeout): it never holds the manager's memory.
	StallTimeout time.Duration
	// History and HistoryBytes bound the changes kept for followers that
	// resume or catch up (DefaultHistory, DefaultHistoryBytes); one that
	// needs an older change gets the whole data again.
	History, HistoryBytes int
	// Hints receives what followers tell (nil: they are counted only).
	Hints Hints
}

// Hints receives what followers know and the manager instance may use:
// services to read again now (from the followers of this instance and,
// through Hint, of the others) with the tasks of the follower's node whose
// containers died there, and which nodes a follower can reach. Its
// methods are called on the followers' stream goroutines; they must not
// block.
type Hints interface {
	Reread(from Peer, serviceIDs, nodeIDs, diedTaskIDs []string)
	Reachability(from Peer, reachable, unreachable []string)
}

// Peer is a follower as its certificate names it.
type Peer struct {
	swarmpki.Identity
	// Addr is the address it connects from.
	Addr string
}

// Server is a manager instance's peer server: it observes the Store
// (registry.Observer) and streams what it publishes to every follower.
type Server struct {
	cfg  ServerConfig
	log  *logrus.Entry
	hub  *hub
	refs refusals

	mu        sync.Mutex
	followers map[*follower]struct{}
	stopping  chan struct{}
	// connected is len(followers), read without mu for the pacing.
	connected atomic.Int64

	served    atomic.Bool
	dropped   atomic.Uint64
	resets    atomic.Uint64
	sentBytes atomic.Uint64
}

// follower is one follower's stream, as the server sees it.
type follower struct {
	peer     Peer
	declared string // the node ID its Hello gave
	since    time.Time
	log      *logrus.Entry
	// paced: its Hello said it acks at the interval we tell.
	paced     bool
	acked     atomic.Uint64 // counter of the version it said it applied
	heard     atomic.Int64  // unix ns of its last message
	sending   atomic.Int64  // unix ns since a send is blocked; 0: none
	timeout   atomic.Int64  // ns of silence after which it is gone
	sentBytes atomic.Uint64
	// end ends its stream with a cause, once (ended).
	end   context.CancelCauseFunc
	ended atomic.Bool
}

// NewServer checks cfg and returns a server with no data yet.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("peer server: no credentials")
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	cfg.Keepalive = orDefault(cfg.Keepalive, DefaultKeepalive)
	cfg.PeerTimeout = orDefault(cfg.PeerTimeout, DefaultPeerTimeout)
	cfg.StallTimeout = orDefault(cfg.StallTimeout, DefaultStallTimeout)
	if cfg.KeepaliveFollowers == 0 {
		cfg.KeepaliveFollowers = DefaultKeepaliveFollowers
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.HistoryBytes <= 0 {
		cfg.HistoryBytes = DefaultHistoryBytes
	}
	log := cfg.Log.WithField("component", "peer-server")
	return &Server{
		cfg: cfg, log: log,
		hub:       newHub(log, cfg.History, cfg.HistoryBytes, chunkSize),
		refs:      refusals{log: log, seen: map[string]bool{}},
		followers: map[*follower]struct{}{},
		stopping:  make(chan struct{}),
	}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Published implements registry.Observer: the snapshot's Data becomes the
// next version (when it differs). It does not block.
func (s *Server) Published(snap *registry.Snapshot, _ time.Duration) { s.hub.publish(snap.Data) }

// Synced implements registry.Observer: keepalives tell followers whether
// the manager's own source is failing.
func (s *Server) Synced(_ time.Duration, err error) { s.hub.sourceSynced(err) }

// Serve serves followers on ln, with mutual TLS only, until ctx is done;
// then it ends every stream (followers move to another manager at once)
// and returns nil. It returns early only if ln fails. A Server serves
// once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.served.Swap(true) {
		return errors.New("peer server: Serve called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.hub.run(ctx)
	go s.watch(ctx)
	gs := grpc.NewServer(
		grpc.Creds(refusingCreds{credentials.NewTLS(s.cfg.Credentials.ServerConfig()), &s.refs}),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.ConnectionTimeout(5*time.Second),
		grpc.MaxRecvMsgSize(1<<20),
		grpc.MaxConcurrentStreams(8),
		// Thousands of mostly quiet streams: a write buffer only while
		// writing, and a small read buffer for acks and hints.
		grpc.SharedWriteBuffer(true),
		grpc.ReadBufferSize(4<<10),
		// Windows of a fixed size (what followers send is small): gRPC's
		// window estimation would answer each message after a quiet
		// spell, each keepalive's ack, with a ping of its own.
		grpc.StaticStreamWindowSize(64<<10),
		grpc.StaticConnWindowSize(64<<10),
	)
	peerpb.RegisterRegistryServer(gs, registryService{s: s})
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	s.log.WithFields(logrus.Fields{"listen": ln.Addr().String(), "node": s.cfg.Credentials.Identity().NodeID}).Info("serving followers")
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("peer server on %s: %w", ln.Addr(), err)
	}
	s.mu.Lock()
	close(s.stopping)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		gs.Stop()
	}
	return nil
}

type registryService struct {
	peerpb.UnimplementedRegistryServer
	s *Server
}

// Follow implements peerpb.RegistryServer.
func (r registryService) Follow(stream peerpb.Registry_FollowServer) error {
	return r.s.follow(stream)
}

// Hint implements peerpb.RegistryServer: a Reread from a node of the
// Swarm that follows another manager instance, handed to Hints as one
// on a follow stream is.
func (r registryService) Hint(ctx context.Context, m *peerpb.Reread) (*peerpb.HintReply, error) {
	p, err := peerOf(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if r.s.cfg.Hints != nil {
		r.s.cfg.Hints.Reread(p, m.ServiceIds, m.NodeIds, m.DiedTaskIds)
	}
	return &peerpb.HintReply{}, nil
}

// follow serves one follower's stream until it ends, goes silent, stalls
// or the server stops.
func (s *Server) follow(stream peerpb.Registry_FollowServer) error {
	ctx := stream.Context()
	p, err := peerOf(ctx)
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	hello, err := recvHello(stream, s.cfg.PeerTimeout)
	if err != nil {
		s.log.WithFields(logrus.Fields{"peer": p.Addr, "node": p.NodeID}).WithError(err).Info("follower left before its hello")
		return err
	}
	log := s.log.WithFields(logrus.Fields{"follower": p.NodeID, "role": p.Role, "peer": p.Addr})
	if hello.NodeId != "" && hello.NodeId != p.NodeID {
		log = log.WithField("declared", hello.NodeId)
	}
	ctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	f := &follower{peer: p, declared: hello.NodeId, since: time.Now(), log: log, paced: hello.Paced, end: end}
	f.heard.Store(time.Now().UnixNano())
	f.timeout.Store(int64(s.pacing(f).timeout))
	s.mu.Lock()
	s.followers[f] = struct{}{}
	s.connected.Store(int64(len(s.followers)))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.followers, f)
		s.connected.Store(int64(len(s.followers)))
		s.mu.Unlock()
	}()
	cursor, reason := s.start(hello)
	log.WithFields(logrus.Fields{"from": cursor, "reset": reason.String(), "paced": f.paced}).Info("follower connected")

	errc := make(chan error, 2)
	go func() { errc <- s.receive(stream, f, log) }()
	go func() { errc <- s.send(ctx, stream, f, cursor, reason) }()
	select {
	case err := <-errc:
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			return c // watch ended it
		}
		if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
			log.Info("follower disconnected")
			return nil
		}
		log.WithError(err).Info("follower disconnected")
		return err
	case <-ctx.Done():
		if c := context.Cause(ctx); !errors.Is(c, context.Canceled) {
			return c
		}
		log.Info("follower disconnected")
		return nil
	case <-s.stopping:
		return status.Error(codes.Unavailable, "manager instance stopping")
	}
}

// pacing is the keepalive pacing of f's stream: the base one for a
// follower that keeps its own, else the one for the followers connected.
func (s *Server) pacing(f *follower) pacing {
	base := pacing{interval: s.cfg.Keepalive, timeout: s.cfg.PeerTimeout}
	if !f.paced {
		return base
	}
	return paceFor(base, s.cfg.KeepaliveFollowers, int(s.connected.Load()))
}

// watch ends, every base keepalive interval until ctx is done, the streams
// of followers that stalled or went silent: one goroutine for them all.
func (s *Server) watch(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Keepalive)
	defer tick.Stop()
	var ending []*follower
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			ending = ending[:0]
			s.mu.Lock()
			for f := range s.followers {
				if s.overdue(f, now) && !f.ended.Load() {
					ending = append(ending, f)
				}
			}
			s.mu.Unlock()
			for _, f := range ending {
				s.endOverdue(f, now)
			}
		}
	}
}

// overdue tells whether f stalled or went silent at now.
func (s *Server) overdue(f *follower, now time.Time) bool {
	if at := f.sending.Load(); at != 0 && now.Sub(time.Unix(0, at)) > s.cfg.StallTimeout {
		return true
	}
	return now.Sub(time.Unix(0, f.heard.Load())) > time.Duration(f.timeout.Load())
}

// endOverdue ends the stream of a follower that stalled or went silent,
// saying why, once.
func (s *Server) endOverdue(f *follower, now time.Time) {
	if f.ended.Swap(true) {
		return
	}
	if at := f.sending.Load(); at != 0 && now.Sub(time.Unix(0, at)) > s.cfg.StallTimeout {
		s.dropped.Add(1)
		err := fmt.Sprintf("follower too slow: it took nothing for %s", s.cfg.StallTimeout)
		f.log.Warn("follower dropped: " + err)
		f.end(status.Error(codes.ResourceExhausted, err))
		return
	}
	silent := now.Sub(time.Unix(0, f.heard.Load())).Round(time.Millisecond).String()
	f.log.WithField("silent", silent).Warn("follower gone silent")
	f.end(status.Error(codes.DeadlineExceeded, "follower silent for "+silent))
}

// start says where a follower's stream begins: after the version it holds,
// or with the whole data, and why.
func (s *Server) start(hello *peerpb.Hello) (uint64, peerpb.ResetReason) {
	last := hello.GetLast()
	switch {
	case last.GetCounter() == 0:
		return 0, peerpb.ResetReason_RESET_REASON_FIRST
	case last.GetEpoch() != s.hub.epoch:
		return 0, peerpb.ResetReason_RESET_REASON_EPOCH
	}
	pos := s.hub.position()
	if last.Counter < pos.base || last.Counter > pos.head {
		return 0, peerpb.ResetReason_RESET_REASON_HISTORY
	}
	return last.Counter, peerpb.ResetReason_RESET_REASON_UNSPECIFIED
}

func recvHello(stream peerpb.Registry_FollowServer, timeout time.Duration) (*peerpb.Hello, error) {
	type result struct {
		m   *peerpb.FollowerMessage
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		got <- result{m, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			return nil, r.err
		}
		h := r.m.GetHello()
		if h == nil {
			return nil, status.Error(codes.InvalidArgument, "first message is not a hello")
		}
		if h.Protocol != ProtocolVersion {
			return nil, status.Errorf(codes.FailedPrecondition, "protocol %d not spoken here (%d is)", h.Protocol, ProtocolVersion)
		}
		return h, nil
	case <-time.After(timeout):
		return nil, status.Error(codes.DeadlineExceeded, "no hello within "+timeout.String())
	}
}

// receive reads a follower's acks and hints until the stream ends.
func (s *Server) receive(stream peerpb.Registry_FollowServer, f *follower, log *logrus.Entry) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		f.heard.Store(time.Now().UnixNano())
		switch m := m.Msg.(type) {
		case *peerpb.FollowerMessage_Ack:
			if m.Ack.GetApplied().GetEpoch() == s.hub.epoch {
				f.acked.Store(m.Ack.Applied.Counter)
			}
		case *peerpb.FollowerMessage_Reread:
			if s.cfg.Hints != nil {
				s.cfg.Hints.Reread(f.peer, m.Reread.ServiceIds, m.Reread.NodeIds, m.Reread.DiedTaskIds)
			}
		case *peerpb.FollowerMessage_Reachability:
			if s.cfg.Hints != nil {
				s.cfg.Hints.Reachability(f.peer, m.Reachability.Reachable, m.Reachability.Unreachable)
			}
		default:
			log.Debug("follower sent an unknown message")
		}
	}
}

// send writes the follower's stream: the whole data when it needs it, then
// every change after its position, and a keepalive whenever it has been
// quiet for the interval it told the follower. A follower that falls behind the history gets the whole
// data again; one that takes nothing is ended by watch.
func (s *Server) send(ctx context.Context, stream peerpb.Registry_FollowServer, f *follower, cursor uint64, reason peerpb.ResetReason) error {
	var (
		lastSent time.Time
		told     pacing // what f was last told
	)
	put := func(m encoded) error {
		f.sending.Store(time.Now().UnixNano())
		err := stream.SendMsg(m)
		f.sending.Store(0)
		f.sentBytes.Add(uint64(len(m)))
		s.sentBytes.Add(uint64(len(m)))
		lastSent = time.Now()
		return err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		pos := s.hub.position()
		if pos.head > cursor {
			var err error
			if cursor, reason, err = s.catchUp(put, cursor, reason); err != nil {
				return err
			}
			continue
		}
		timer.Reset(time.Until(keepaliveDue(lastSent, told.interval)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-pos.wake:
		case <-timer.C:
			p := s.pacing(f)
			if err := put(s.hub.keepalive(p)); err != nil {
				return err
			}
			// A shorter timeout holds once f acks at the shorter
			// interval: after it was told.
			f.timeout.Store(int64(max(p.timeout, told.timeout)))
			told = p
		}
	}
}

// catchUp sends what lies between cursor and the head: the changes, or
// the whole data when the history no longer holds them (or reason says it
// needs it); it returns the new cursor.
func (s *Server) catchUp(put func(encoded) error, cursor uint64, reason peerpb.ResetReason) (uint64, peerpb.ResetReason, error) {
	if reason == peerpb.ResetReason_RESET_REASON_UNSPECIFIED {
		msgs, ok := s.hub.changesAfter(cursor)
		if ok {
			for _, m := range msgs {
				if err := put(m); err != nil {
					return cursor, reason, err
				}
			}
			return cursor + uint64(len(msgs)), reason, nil
		}
		reason = s.hub.lagReason(cursor)
	}
	full := s.hub.fullNow()
	if full.err != nil {
		return cursor, reason, status.Error(codes.Internal, "registry cannot be encoded: "+full.err.Error())
	}
	hdr, err := s.hub.resetMsg(full, reason)
	if err != nil {
		return cursor, reason, err
	}
	if err := put(hdr); err != nil {
		return cursor, reason, err
	}
	for _, c := range full.chunks {
		if err := put(c); err != nil {
			return cursor, reason, err
		}
	}
	s.resets.Add(1)
	return full.version, peerpb.ResetReason_RESET_REASON_UNSPECIFIED, nil
}

// peerOf returns the verified follower of a stream.
func peerOf(ctx context.Context) (Peer, error) {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return Peer{}, errors.New("no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Peer{}, errors.New("not a TLS peer")
	}
	id, err := swarmpki.PeerIdentity(info.State)
	if err != nil {
		return Peer{}, err
	}
	return Peer{Identity: id, Addr: p.Addr.String()}, nil
}

// ServerStatus is what a manager instance's peer server reports.
type ServerStatus struct {
	// Epoch and Head are its latest version.
	Epoch, Head uint64
	Followers   []FollowerInfo
	// Changes counts the changes published; Resets the whole data sent
	// to a follower; Dropped the followers dropped for not reading;
	// Refused the connections refused at the handshake.
	Changes, Resets, Dropped, Refused uint64
	// SentBytes counts the protocol messages' bytes sent to followers.
	SentBytes uint64
	// LastChange is the CPU time of the last change's diff and encoding,
	// done once for all followers.
	LastChange time.Duration
}

// FollowerInfo is one connected follower.
type FollowerInfo struct {
	Peer
	Since     time.Time
	LastHeard time.Time
	// Acked is the counter of the version it last said it applied;
	// Behind is how many changes it lacks.
	Acked, Behind uint64
	SentBytes     uint64
}

// Status reports the server's version and followers.
func (s *Server) Status() ServerStatus {
	pos := s.hub.position()
	st := ServerStatus{
		Epoch: s.hub.epoch, Head: pos.head,
		Changes: s.hub.changes.Load(), Resets: s.resets.Load(), Dropped: s.dropped.Load(),
		Refused: s.refs.count.Load(), SentBytes: s.sentBytes.Load(),
		LastChange: time.Duration(s.hub.encodeNs.Load()),
	}
	s.mu.Lock()
	for f := range s.followers {
		acked := f.acked.Load()
		st.Followers = append(st.Followers, FollowerInfo{
			Peer: f.peer, Since: f.since, LastHeard: time.Unix(0, f.heard.Load()),
			Acked: acked, Behind: pos.head - min(acked, pos.head), SentBytes: f.sentBytes.Load(),
		})
	}
	s.mu.Unlock()
	return st
}

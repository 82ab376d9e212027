//go:build scale

package peer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// The followers' process of the scale harness (scale_test.go): the test
// binary run again with scaleRoleEnv set. It runs the followers a spec
// names against one manager instance over loopback TCP and mutual TLS, and
// answers the manager's process line by line on stdin/stdout:
//
//	arm C    → armed            each follower records when it first holds
//	                            version C or later
//	wait W T → current {...}    when every follower (W "all") or every one
//	                            not slow (W "normal") holds it, or after T:
//	                            when each did, and the bytes all read
//	drain    → drained {...}    the slow followers read again; their
//	                            outcome: how they were reset, or why they
//	                            were dropped
//	check    → checked {...}    the data of the followers that apply for
//	                            real, as a digest the manager compares
//
// Closing stdin ends the process.

const (
	scaleRoleEnv = "SWARMDNS_SCALE_ROLE"
	scaleAddrEnv = "SWARMDNS_SCALE_ADDR"
	scaleCertEnv = "SWARMDNS_SCALE_CERTS"
	scaleSpecEnv = "SWARMDNS_SCALE_SPEC"
)

// followerSpec is how many followers of each kind one process runs.
type followerSpec struct {
	// Store followers are real Followers, each with its own
	// registry.Store building its snapshot. Proto followers speak the
	// protocol and apply each change to an overlay of their data; the
	// first of them decodes the whole data and applies every change for
	// real, as the check.
	Store, Proto int
	// Stall followers take the whole data and then read nothing until
	// drained; pause followers read for 3 s, then nothing for PauseMS,
	// again and again until drained.
	Stall, Pause, PauseMS int
}

func (s followerSpec) String() string {
	return fmt.Sprintf("store=%d,proto=%d,stall=%d,pause=%d,ms=%d", s.Store, s.Proto, s.Stall, s.Pause, s.PauseMS)
}

func parseFollowerSpec(s string) (followerSpec, error) {
	var spec followerSpec
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if err != nil {
			return spec, fmt.Errorf("follower spec %q: %w", s, err)
		}
		switch k {
		case "store":
			spec.Store = n
		case "proto":
			spec.Proto = n
		case "stall":
			spec.Stall = n
		case "pause":
			spec.Pause = n
		case "ms":
			spec.PauseMS = n
		default:
			return spec, fmt.Errorf("follower spec %q: unknown kind %q", s, k)
		}
	}
	return spec, nil
}

// The followers' process's answers.
type (
	currentReply struct {
		// Reached holds, per follower not slow, the unix ns at which it
		// first held the armed version; 0: not within the wait.
		Reached []int64
		// Bytes is what all followers read from the manager since armed.
		Bytes int64
		// Errors are protocol errors seen so far; Reconnects counts the
		// streams of normal followers that ended (they came back).
		Errors     []string
		Reconnects int64
	}
	drainedReply struct {
		// Resets counts the whole data each pause follower got after its
		// first (it lagged, or came back after being dropped); Dropped
		// holds each stall follower's end of stream.
		Resets  []int
		Dropped []string
		// Current tells whether every pause follower holds the armed
		// version; PauseEnded how often and how their streams ended
		// (each came back).
		Current    bool
		PauseEnded []string
	}
	checkedReply struct {
		// Digests of the data the checking followers hold.
		Proto, Store string
	}
)

// scaleFollower is one follower of the followers' process.
type scaleFollower struct {
	read    atomic.Int64
	reached atomic.Int64  // unix ns it first held the armed version
	counter atomic.Uint64 // the version it holds
	// slow followers: resets for lagging, and how a stalled one ended.
	resets  atomic.Int64
	ends    atomic.Int64
	endedBy atomic.Pointer[string]
	epoch   atomic.Uint64   // proto followers: the epoch of what they hold
	store   *registry.Store // store followers
	follow  *Follower       // store followers
}

type followerProcess struct {
	addr  string
	creds *swarmpki.Credentials
	spec  followerSpec
	armed atomic.Uint64

	normal, stall, pause []*scaleFollower
	check                *protoCheck

	// wholes holds the CRC-32C of each whole data version received, so
	// every follower is held to the bytes of the first.
	mu     sync.Mutex
	wholes map[uint64]uint32
	errs   []string
	// drain is closed to let the stall followers read again.
	drain chan struct{}
	// reconnects counts the normal followers' streams that ended (each
	// comes back); logged the problems written on stderr.
	reconnects, logged atomic.Int64
}

// runFollowerProcess is the followers' process; it returns its exit code.
func runFollowerProcess() int {
	if err := followerProcessMain(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scale followers:", err)
		return 1
	}
	return 0
}

func followerProcessMain(in io.Reader, out io.Writer) error {
	if err := raiseFileLimit(1 << 20); err != nil {
		return err
	}
	spec, err := parseFollowerSpec(os.Getenv(scaleSpecEnv))
	if err != nil {
		return err
	}
	creds, err := swarmpki.Load(swarmpki.NodeFiles(os.Getenv(scaleCertEnv)))
	if err != nil {
		return err
	}
	p := &followerProcess{addr: os.Getenv(scaleAddrEnv), creds: creds, spec: spec, wholes: map[uint64]uint32{}, drain: make(chan struct{})}
	p.armed.Store(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.start(ctx)

	enc := json.NewEncoder(out)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		var reply any
		switch cmd {
		case "arm":
			c, err := strconv.ParseUint(arg, 10, 64)
			if err != nil {
				return fmt.Errorf("arm %q: %w", arg, err)
			}
			p.arm(c)
			reply = "armed"
		case "wait":
			which, limit, _ := strings.Cut(arg, " ")
			timeout, err := time.ParseDuration(limit)
			if err != nil {
				return fmt.Errorf("wait %q: %w", arg, err)
			}
			list := p.normal
			if which == "all" {
				list = p.all()
			}
			reply = p.wait(ctx, list, timeout)
		case "drain":
			reply = p.drained(ctx)
		case "check":
			reply = p.digests()
		default:
			return fmt.Errorf("unknown command %q", cmd)
		}
		if err := enc.Encode(reply); err != nil {
			return err
		}
	}
	return sc.Err()
}

// start connects every follower, at most 32 in their first whole data at
// once, as followers reconnect with jitter: thousands at once would queue
// every stream's keepalives behind them.
func (p *followerProcess) start(ctx context.Context) {
	first := make(chan struct{}, 32)
	n := 0
	spawn := func(run func(f *scaleFollower, i int, firstDone func())) *scaleFollower {
		f := &scaleFollower{}
		first <- struct{}{}
		var once sync.Once
		go run(f, n, func() { once.Do(func() { <-first }) })
		n++
		return f
	}
	for range p.spec.Store {
		p.normal = append(p.normal, spawn(func(f *scaleFollower, i int, done func()) { p.runStore(ctx, f, i, done) }))
	}
	for i := range p.spec.Proto {
		var check *protoCheck
		if i == 0 {
			check = &protoCheck{}
			p.check = check
		}
		p.normal = append(p.normal, spawn(func(f *scaleFollower, i int, done func()) { p.runProto(ctx, f, i, protoNormal, check, done) }))
	}
	for range p.spec.Stall {
		p.stall = append(p.stall, spawn(func(f *scaleFollower, i int, done func()) { p.runProto(ctx, f, i, protoStall, nil, done) }))
	}
	for range p.spec.Pause {
		p.pause = append(p.pause, spawn(func(f *scaleFollower, i int, done func()) { p.runProto(ctx, f, i, protoPause, nil, done) }))
	}
}

// arm starts timing the followers' way to version c.
// The manager arms before it publishes C: no follower can hold it yet,
// unless C is already the head.
func (p *followerProcess) arm(c uint64) {
	p.armed.Store(c)
	for _, f := range p.all() {
		f.reached.Store(0)
		if f.counter.Load() >= c {
			f.reached.Store(time.Now().UnixNano())
		}
		f.read.Store(0)
	}
}

func (p *followerProcess) all() []*scaleFollower {
	return append(append(append([]*scaleFollower(nil), p.normal...), p.stall...), p.pause...)
}

// wait waits until every follower of list holds the armed version.
func (p *followerProcess) wait(ctx context.Context, list []*scaleFollower, timeout time.Duration) currentReply {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		all := true
		for _, f := range list {
			if f.reached.Load() == 0 {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r := currentReply{Reached: make([]int64, len(list))}
	for i, f := range list {
		r.Reached[i] = f.reached.Load()
	}
	for _, f := range p.all() {
		r.Bytes += f.read.Load()
	}
	r.Reconnects = p.reconnects.Load()
	p.mu.Lock()
	r.Errors = append(r.Errors, p.errs...)
	p.mu.Unlock()
	return r
}

// drained lets the stall followers read to the end of their stream, and
// waits for the pause followers to hold the armed version.
func (p *followerProcess) drained(ctx context.Context) drainedReply {
	close(p.drain)
	var r drainedReply
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range p.stall {
		for f.endedBy.Load() == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		why := "still connected"
		if e := f.endedBy.Load(); e != nil {
			why = *e
		}
		r.Dropped = append(r.Dropped, why)
	}
	p.wait(ctx, p.pause, time.Until(deadline))
	r.Current = true
	for _, f := range p.pause {
		r.Resets = append(r.Resets, int(f.resets.Load()))
		r.Current = r.Current && f.reached.Load() != 0
		if e := f.endedBy.Load(); e != nil {
			r.PauseEnded = append(r.PauseEnded, fmt.Sprintf("%d× %s", f.ends.Load(), *e))
		}
	}
	return r
}

// fail records a protocol error, and logs the first few on stderr.
func (p *followerProcess) fail(err error) {
	p.mu.Lock()
	if len(p.errs) < 20 {
		p.errs = append(p.errs, err.Error())
	}
	p.mu.Unlock()
	p.logFirst(err.Error())
}

// logFirst writes the first 20 problems on stderr.
func (p *followerProcess) logFirst(msg string) {
	if p.logged.Add(1) <= 20 {
		fmt.Fprintln(os.Stderr, "scale followers:", msg)
	}
}

// digests are the data of the checking followers.
func (p *followerProcess) digests() checkedReply {
	var r checkedReply
	if p.check != nil {
		p.check.mu.Lock()
		r.Proto = clusterDigest(&p.check.cluster)
		p.check.mu.Unlock()
	}
	if p.spec.Store > 0 {
		if snap := p.normal[0].store.Snapshot(); snap != nil {
			if c, err := clusterOf(snap.Data); err == nil {
				r.Store = clusterDigest(&c)
			}
		}
	}
	return r
}

// clusterDigest names c's content: the CRC-32C of its deterministic
// encoding, with its size.
func clusterDigest(c *cluster) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(clusterPB(c))
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%08x/%d", crc32.Checksum(b, castagnoli), len(b))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// dialer spreads the followers over the source addresses 127.0.0.2-201,
// so that ten thousand connections never run short of ports, and counts
// what each reads.
// A small receive buffer (rcvbuf > 0) makes the manager's sends wait as
// soon as the follower stops reading.
func (p *followerProcess) dialer(i int, f *scaleFollower, rcvbuf int) func(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%200))}, Timeout: 10 * time.Second}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if rcvbuf > 0 {
			if err := c.(*net.TCPConn).SetReadBuffer(rcvbuf); err != nil {
				c.Close()
				return nil, err
			}
		}
		return countingConn{c, &f.read}, nil
	}
}

// runStore runs a real Follower into its own Store; a snapshot published
// marks the version the follower holds.
func (p *followerProcess) runStore(ctx context.Context, f *scaleFollower, i int, firstDone func()) {
	l := logrus.New()
	l.SetOutput(io.Discard)
	st, err := registry.NewStore(registry.Config{Domain: "swarm.local."}, logrus.NewEntry(l))
	if err != nil {
		p.fail(err)
		firstDone()
		return
	}
	fo, err := NewFollower(FollowerConfig{
		Managers: []string{p.addr}, Credentials: p.creds, Log: logrus.NewEntry(l), Dial: p.dialer(i, f, 0),
	})
	if err != nil {
		p.fail(err)
		firstDone()
		return
	}
	f.store, f.follow = st, fo
	st.Observe(registry.ObserverFuncs{OnPublished: func(*registry.Snapshot, time.Duration) {
		c := fo.Status().Counter
		f.counter.Store(c)
		if c >= p.armed.Load() && f.reached.Load() == 0 {
			f.reached.Store(time.Now().UnixNano())
		}
		firstDone()
	}})
	if err := fo.Run(ctx, st); err != nil {
		p.fail(err)
	}
}

type protoMode int

const (
	protoNormal protoMode = iota
	protoStall
	protoPause
)

// protoCheck is the one protocol follower that holds the data for real.
type protoCheck struct {
	mu      sync.Mutex
	cluster cluster
	whole   []byte
}

// overlay is a protocol follower's own data: what the changes it applied
// put and removed, over the whole data the process checked once.
type overlay struct {
	put     map[string]any
	removed map[string]bool
}

func (o *overlay) apply(ch *peerpb.Change) error {
	d := decoder{}
	for _, m := range ch.Services {
		s, err := d.service(m)
		if err != nil {
			return err
		}
		o.set(s.ID, s)
	}
	for _, m := range ch.Tasks {
		t, err := d.task(m)
		if err != nil {
			return err
		}
		o.set(t.ID, t)
	}
	for _, m := range ch.Networks {
		n, err := d.network(m)
		if err != nil {
			return err
		}
		o.set(n.ID, n)
	}
	for _, m := range ch.Nodes {
		n := d.node(m)
		o.set(n.ID, n)
	}
	for _, list := range [][]string{ch.RemovedServices, ch.RemovedTasks, ch.RemovedNetworks, ch.RemovedNodes} {
		for _, id := range list {
			delete(o.put, id)
			o.removed[id] = true
		}
	}
	return nil
}

func (o *overlay) set(id string, v any) {
	delete(o.removed, id)
	o.put[id] = v
}

// runProto follows at the protocol level, sessions after sessions until
// ctx ends (a dropped slow follower stays dropped).
func (p *followerProcess) runProto(ctx context.Context, f *scaleFollower, i int, mode protoMode, check *protoCheck, firstDone func()) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(p.creds.ClientConfig())),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(chunkSize + 64<<10)),
	}
	if mode == protoNormal {
		// As a Follower dials.
		opts = append(opts, grpc.WithContextDialer(p.dialer(i, f, 0)),
			grpc.WithStaticStreamWindowSize(followerWindow), grpc.WithStaticConnWindowSize(followerWindow))
	} else {
		// Slow ones buffer little: no window grown to the bandwidth.
		opts = append(opts, grpc.WithContextDialer(p.dialer(i, f, 64<<10)),
			grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	}
	conn, err := grpc.NewClient("passthrough:///"+p.addr, opts...)
	if err != nil {
		p.fail(err)
		firstDone()
		return
	}
	defer conn.Close()
	for {
		err = p.protoSession(ctx, conn, f, mode, check, firstDone)
		firstDone()
		if ctx.Err() != nil {
			return
		}
		why := status.Convert(err)
		msg := why.Code().String() + ": " + why.Message()
		f.endedBy.Store(&msg)
		f.ends.Add(1)
		if mode == protoStall {
			return
		}
		// Others come back, as a real follower does, and say what they
		// hold.
		if mode == protoNormal {
			p.reconnects.Add(1)
			p.logFirst("follower stream ended: " + msg)
			time.Sleep(retryDelay(0))
		}
	}
}

func (p *followerProcess) protoSession(ctx context.Context, conn *grpc.ClientConn, f *scaleFollower, mode protoMode, check *protoCheck, firstDone func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := peerpb.NewRegistryClient(conn).Follow(ctx)
	if err != nil {
		return err
	}
	hello := &peerpb.Hello{Protocol: ProtocolVersion, Paced: true}
	epoch := &f.epoch
	haveWhole := epoch.Load() != 0
	if haveWhole {
		hello.Last = &peerpb.Version{Epoch: epoch.Load(), Counter: f.counter.Load()}
	}
	if err := stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Hello{Hello: hello}}); err != nil {
		return err
	}
	// Acks as a Follower sends them, at the interval the manager
	// instance tells.
	pace := newPaced(pacing{interval: DefaultKeepalive, timeout: DefaultPeerTimeout})
	go func() {
		tick := time.NewTicker(pace.interval())
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-pace.changed:
				tick.Reset(pace.interval())
				continue
			case <-tick.C:
			}
			ack := &peerpb.Ack{Applied: &peerpb.Version{Epoch: epoch.Load(), Counter: f.counter.Load()}}
			if stream.Send(&peerpb.FollowerMessage{Msg: &peerpb.FollowerMessage_Ack{Ack: ack}}) != nil {
				return
			}
		}
	}()
	var (
		ov       = overlay{put: map[string]any{}, removed: map[string]bool{}}
		whole    *peerpb.Reset // the whole data being received
		crc      uint32
		left     int64
		readFrom time.Time // pause followers: when they began to read
	)
	for {
		switch {
		case mode == protoStall && haveWhole:
			select {
			case <-p.drain:
				mode = protoNormal
			case <-ctx.Done():
				return ctx.Err()
			}
		case mode == protoPause && haveWhole && time.Since(readFrom) > 3*time.Second:
			select {
			case <-p.drain:
				mode = protoNormal
			case <-time.After(time.Duration(p.spec.PauseMS) * time.Millisecond):
				readFrom = time.Now()
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		switch m := m.Msg.(type) {
		case *peerpb.ManagerMessage_Keepalive:
			pace.keepalive(m.Keepalive)
		case *peerpb.ManagerMessage_Reset_:
			whole, crc, left = m.Reset_, 0, int64(m.Reset_.Size)
			if m.Reset_.Reason != peerpb.ResetReason_RESET_REASON_FIRST {
				f.resets.Add(1)
			}
			if check != nil {
				check.whole = check.whole[:0]
			}
		case *peerpb.ManagerMessage_Chunk:
			if whole == nil {
				return errors.New("chunk outside whole data")
			}
			crc = crc32.Update(crc, castagnoli, m.Chunk.Data)
			if check != nil {
				check.whole = append(check.whole, m.Chunk.Data...)
			}
			if left -= int64(len(m.Chunk.Data)); left > 0 {
				continue
			}
			if err := p.sameWhole(whole.Version.Counter, crc); err != nil {
				p.fail(err)
			}
			if check != nil {
				c, err := decodeFull(check.whole)
				if err != nil {
					return err
				}
				check.mu.Lock()
				check.cluster, check.whole = c, nil
				check.mu.Unlock()
			}
			epoch.Store(whole.Version.Epoch)
			f.holds(whole.Version.Counter, p.armed.Load())
			ov = overlay{put: map[string]any{}, removed: map[string]bool{}}
			whole, haveWhole = nil, true
			firstDone()
		case *peerpb.ManagerMessage_Change:
			v := m.Change.Version
			if !haveWhole || whole != nil || v.Epoch != epoch.Load() || v.Counter != f.counter.Load()+1 {
				return fmt.Errorf("change %d out of order (holding %d)", v.Counter, f.counter.Load())
			}
			if err := ov.apply(m.Change); err != nil {
				return err
			}
			if check != nil {
				check.mu.Lock()
				c, err := check.cluster.apply(m.Change)
				if err == nil {
					check.cluster = c
				}
				check.mu.Unlock()
				if err != nil {
					return err
				}
			}
			f.holds(v.Counter, p.armed.Load())
		}
	}
}

// holds records that f holds version c.
func (f *scaleFollower) holds(c, armed uint64) {
	f.counter.Store(c)
	if c >= armed && f.reached.Load() == 0 {
		f.reached.Store(time.Now().UnixNano())
	}
}

// sameWhole holds every follower to the bytes the first got for version.
func (p *followerProcess) sameWhole(version uint64, crc uint32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if first, ok := p.wholes[version]; ok && first != crc {
		return fmt.Errorf("whole data of version %d differs between followers", version)
	}
	p.wholes[version] = crc
	return nil
}

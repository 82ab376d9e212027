package transfer_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
	"github.com/swarmdns/swarmdns/server"
	"github.com/swarmdns/swarmdns/server/transfer"
)

// primary is a swarmdns serving a registry file on loopback with zone
// transfers on, as `swarmdns serve` wires it.
type primary struct {
	addr   netip.AddrPort
	store  *registry.Store
	xfr    *transfer.Transfer
	srv    *server.Server
	cancel context.CancelFunc
}

const domain = "swarm.internal."

func startPrimary(t testing.TB, registryFile string, cfg transfer.Config) *primary {
	t.Helper()
	return startPrimaryWith(t, func(ctx context.Context, store *registry.Store, log *logrus.Logger) {
		src := file.NewSource(registryFile, logrus.NewEntry(log))
		go src.Run(ctx, store)
	}, cfg)
}

// startPrimaryWith starts a primary whose registry feed starts.
func startPrimaryWith(t testing.TB, feed func(context.Context, *registry.Store, *logrus.Logger), cfg transfer.Config) *primary {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	if testing.Verbose() {
		log.SetLevel(logrus.InfoLevel)
	}
	if cfg.Log != nil {
		log = cfg.Log.Logger
	}
	cfg.Log = logrus.NewEntry(log)
	xfr, err := transfer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := registry.NewStore(registry.Config{
		Domain: domain, TTL: 5, Serial: xfr.Serial,
		Nameservers: []registry.Nameserver{{Name: "ns1." + domain, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}},
	}, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	store.Observe(registry.ObserverFuncs{OnPublished: func(*registry.Snapshot, time.Duration) { xfr.Published() }})
	ctx, cancel := context.WithCancel(context.Background())
	xfr.Start(ctx)
	feed(ctx, store, log)
	deadline := time.Now().Add(5 * time.Second)
	for store.Snapshot() == nil {
		if time.Now().After(deadline) {
			t.Fatal("registry file never loaded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv := &server.Server{Handler: server.NewHandler(server.Config{Store: store, Transfer: xfr, Log: logrus.NewEntry(log)}), Addr: "127.0.0.1:0", Log: logrus.NewEntry(log)}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	p := &primary{store: store, xfr: xfr, srv: srv, cancel: cancel}
	p.addr = netip.MustParseAddrPort(srv.TCPAddr().String())
	t.Cleanup(p.stop)
	return p
}

func (p *primary) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.srv.Shutdown(ctx)
	p.cancel = nil
}

func (p *primary) serial(t testing.TB) uint32 {
	t.Helper()
	return soaSerial(t, p.addr.String(), domain)
}

func soaSerial(t testing.TB, addr, zone string) uint32 {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	r, err := dns.Exchange(m, addr)
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("SOA %s at %s: %v %v", zone, addr, r, err)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// copyRegistry writes the example registry to a temporary file.
func copyRegistry(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "registry.yaml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// scaleUp starts the example's fourth web task: a registry change that
// adds records to the zone.
func scaleUp(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(raw), "node: node-a, state: starting,", "node: node-a,", 1)
	if changed == string(raw) {
		t.Fatal("the example registry has no starting web task to start")
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
}

// axfr transfers zone from addr and returns its records.
func axfr(t testing.TB, addr, zone string, key *transfer.Key) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{}
	if key != nil {
		m.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{key.Name: key.Secret()}
	}
	ch, err := tr.In(m, addr)
	if err != nil {
		t.Fatalf("AXFR %s from %s: %v", zone, addr, err)
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("AXFR %s from %s: %v", zone, addr, env.Error)
		}
		rrs = append(rrs, env.RR...)
	}
	return rrs
}

// answerSet is the sorted presentation form of an answer section.
func answerSet(t *testing.T, addr, name string, qtype uint16) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	m.SetEdns0(4096, false)
	c := &dns.Client{Timeout: 2 * time.Second}
	var r *dns.Msg
	var err error
	for try := 0; try < 3; try++ {
		// A secondary may be loading a zone it just took (NSD forks a
		// new server), so an error is tried again.
		if r, _, err = c.Exchange(m, addr); err == nil && !r.Truncated {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s %s at %s: %v", name, dns.TypeToString[qtype], addr, err)
	}
	out := []string{dns.RcodeToString[r.Rcode]}
	for _, rr := range r.Answer {
		out = append(out, rr.String())
	}
	sort.Strings(out[1:])
	return out
}

// questions are the name and type pairs of a zone's records.
func questions(rrs []dns.RR) [][2]string {
	seen := map[[2]string]bool{}
	var qs [][2]string
	for _, rr := range rrs {
		q := [2]string{strings.ToLower(rr.Header().Name), dns.TypeToString[rr.Header().Rrtype]}
		if !seen[q] {
			seen[q] = true
			qs = append(qs, q)
		}
	}
	return qs
}

// zoneBytes is the size of a zone's records in wire form, uncompressed.
func zoneBytes(t testing.TB, addr, zone string) int {
	n := 0
	for _, rr := range axfr(t, addr, zone, nil) {
		n += dns.Len(rr)
	}
	return n
}

package transfer_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
	"github.com/swarmdns/swarmdns/server/transfer"
)

// fuzzTransfer is a Transfer of the example registry that allows
// loopback and requires the TSIG key it returns.
func fuzzTransfer(t testing.TB) (*transfer.Transfer, transfer.Key) {
	secretFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(secretFile, []byte("c3dhcm1kbnMgdGVzdCBrZXkgc2VjcmV0IDMyIGJ5dGVzIQ==\n"), 0o600)
	key, err := transfer.ParseKey("k1:hmac-sha256:" + secretFile)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(bytes.NewBuffer(nil))
	xfr, err := transfer.New(transfer.Config{Allow: loopback, Keys: []transfer.Key{key}, Reverse: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Log: logrus.NewEntry(log)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := file.Load("../../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := registry.NewStore(registry.Config{Domain: domain, TTL: 5, Serial: xfr.Serial}, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	store.Update(d)
	return xfr, key
}

// transferSeeds are transfer queries: AXFR, IXFR with the client's SOA in
// authority, signed and unsigned, and signed ones cut inside the TSIG.
func transferSeeds(key transfer.Key) [][]byte {
	var seeds [][]byte
	for _, mk := range []func(m *dns.Msg){
		func(m *dns.Msg) { m.SetAxfr(domain) },
		func(m *dns.Msg) { m.SetIxfr(domain, 1, "ns1."+domain, "hostmaster."+domain) },
		func(m *dns.Msg) { m.SetQuestion(domain, dns.TypeSOA) },
		func(m *dns.Msg) { m.SetAxfr("10.in-addr.arpa.") },
	} {
		m := new(dns.Msg)
		mk(m)
		b, _ := m.Pack()
		seeds = append(seeds, b)
		m.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
		signed, _, err := dns.TsigGenerate(m, key.Secret(), "", false)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, signed)
		for _, cut := range []int{1, 10, 20, 40} {
			seeds = append(seeds, signed[:len(signed)-cut]) // a truncated TSIG
		}
	}
	return seeds
}

// frames is a connection that records what is written to it.
type frames struct {
	net.Conn
	out bytes.Buffer
}

func (f *frames) Write(p []byte) (int, error)      { return f.out.Write(p) }
func (f *frames) SetWriteDeadline(time.Time) error { return nil }

// checkReplies holds every reply message to the query's ID and parse.
func checkReplies(t *testing.T, query []byte, msgs [][]byte) {
	for _, out := range msgs {
		var r dns.Msg
		if err := r.Unpack(out); err != nil {
			t.Fatalf("reply does not parse: %v\nquery %x\nreply %x", err, query, out)
		}
		if !r.Response || r.Id != binary.BigEndian.Uint16(query) {
			t.Fatalf("reply id %x (QR %v) to query %x", r.Id, r.Response, binary.BigEndian.Uint16(query))
		}
		if len(out) > 65535 {
			t.Fatalf("reply of %d bytes", len(out))
		}
	}
}

// FuzzTransferQuery feeds transfer queries (an IXFR authority section, a
// truncated TSIG, anything else) to the transfer path over UDP and TCP.
func FuzzTransferQuery(f *testing.F) {
	xfr, key := fuzzTransfer(f)
	for _, s := range transferSeeds(key) {
		f.Add(s)
	}
	client := netip.MustParseAddrPort("127.0.0.1:5300")
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) < 12 {
			return // the server drops these before the transfer path
		}
		checkReplies(t, msg, [][]byte{xfr.AnswerUDP(msg, client)})
		c := &frames{}
		xfr.ServeTCP(c, msg, client)
		var msgs [][]byte
		b := c.out.Bytes()
		for len(b) >= 2 {
			n := int(binary.BigEndian.Uint16(b))
			if len(b) < 2+n {
				t.Fatalf("a frame of %d bytes cut at %d", n, len(b)-2)
			}
			msgs = append(msgs, b[2:2+n])
			b = b[2+n:]
		}
		checkReplies(t, msg, msgs)
	})
}

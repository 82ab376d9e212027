// Package pkitest makes Swarm-like certificates for tests: a root CA
// (CN=swarm-ca), node certificates with Swarm's subject (O=<cluster>,
// OU=swarm-manager|swarm-worker, CN=<node>) and SANs, cross-signed
// intermediates as a CA rotation makes them, and the three files a node
// keeps, written the way swarmkit writes them (atomically, by rename).
package pkitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/registry/peer/swarmpki"
)

// CA is a root CA.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte
}

var serial atomic.Int64

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// NewCA makes a self-signed root CA named swarm-ca.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: "swarm-ca"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, Key: key, PEM: certPEM(der)}
}

// CrossSign returns other's certificate signed by ca, as `docker swarm ca
// --rotate` makes it: an intermediate that lets nodes which still trust ca
// verify certificates that other signed.
func (ca *CA) CrossSign(t testing.TB, other *CA) []byte {
	t.Helper()
	tmpl := *other.Cert
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Cert, &other.Key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM(der)
}

// Node issues a node certificate and returns its chain (the certificate,
// then intermediates, then this CA's certificate, as swarmkit writes
// swarm-node.crt) and key in PEM.
func (ca *CA) Node(t testing.TB, cluster, role, nodeID string, intermediates ...[]byte) (chain, key []byte) {
	t.Helper()
	k := newKey(t)
	sans := []string{role, nodeID}
	if role == swarmpki.RoleManager {
		sans = append(sans, "swarm-ca")
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{Organization: []string{cluster}, OrganizationalUnit: []string{role}, CommonName: nodeID},
		DNSNames:     sans,
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &k.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	chain = certPEM(der)
	for _, in := range intermediates {
		chain = append(chain, in...)
	}
	if len(intermediates) == 0 {
		chain = append(chain, ca.PEM...)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return chain, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// Files are one node's certificate files in dir.
func Files(dir string) swarmpki.Files { return swarmpki.NodeFiles(dir) }

var stamp atomic.Int64

// Write writes a node's three files under dir/swarm/certificates (made if
// needed), each by rename, root CA first as swarmkit does, and returns
// their paths. Each write gets a later modification time than the last,
// so a reload sees it even within one clock tick.
func Write(t testing.TB, dir string, chain, key, roots []byte) swarmpki.Files {
	t.Helper()
	f := Files(dir)
	if err := os.MkdirAll(filepath.Dir(f.Cert), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		path string
		data []byte
	}{{f.CA, roots}, {f.Cert, chain}, {f.Key, key}} {
		tmp := w.path + ".tmp"
		if err := os.WriteFile(tmp, w.data, 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(time.Duration(stamp.Add(1)) * time.Millisecond)
		if err := os.Chtimes(tmp, at, at); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, w.path); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// WriteNode issues a node certificate of ca and writes it with ca as the
// only root; it returns the files.
func (ca *CA) WriteNode(t testing.TB, dir, cluster, role, nodeID string) swarmpki.Files {
	t.Helper()
	chain, key := ca.Node(t, cluster, role, nodeID)
	return Write(t, dir, chain, key, ca.PEM)
}

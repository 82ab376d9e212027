// Package swarmpki admits to the follow protocol only nodes of this Swarm,
// by the Swarm's own certificates: it reads a node's certificate, key and
// root CA (read only, again whenever the files change, so a rotation needs
// no restart) and makes the TLS configurations of both ends. A manager
// instance accepts any node of its cluster (a client certificate signed by
// the root CA with its own cluster ID); a follower accepts only a manager
// of its cluster.
package swarmpki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The roles a Swarm node certificate's OU names.
const (
	RoleManager = "swarm-manager"
	RoleWorker  = "swarm-worker"
)

// Files are where a node's Swarm certificates are.
type Files struct {
	Cert string // the node's certificate chain (PEM), swarm-node.crt
	Key  string // its private key (PEM), swarm-node.key
	CA   string // the Swarm root CA bundle (PEM), swarm-root-ca.crt
}

// NodeFiles returns the files the engine keeps under its data root
// (Engine /info DockerRootDir, usually /var/lib/docker).
func NodeFiles(dockerRootDir string) Files {
	dir := filepath.Join(dockerRootDir, "swarm", "certificates")
	return Files{
		Cert: filepath.Join(dir, "swarm-node.crt"),
		Key:  filepath.Join(dir, "swarm-node.key"),
		CA:   filepath.Join(dir, "swarm-root-ca.crt"),
	}
}

// Identity is who a node certificate names: O=<cluster>, OU=<role>,
// CN=<node ID>.
type Identity struct {
	Cluster string
	Role    string
	NodeID  string
}

func (id Identity) String() string {
	return fmt.Sprintf("node %s (%s) of cluster %s", id.NodeID, id.Role, id.Cluster)
}

// IdentityOf reads the identity a node certificate's subject names; it
// fails when the subject is not one of a Swarm node.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	s := cert.Subject
	if len(s.Organization) != 1 || len(s.OrganizationalUnit) != 1 || s.CommonName == "" {
		return Identity{}, fmt.Errorf("certificate %q is not a Swarm node's (want O=<cluster>, OU=%s|%s, CN=<node>)", s, RoleManager, RoleWorker)
	}
	id := Identity{Cluster: s.Organization[0], Role: s.OrganizationalUnit[0], NodeID: s.CommonName}
	if id.Role != RoleManager && id.Role != RoleWorker {
		return Identity{}, fmt.Errorf("certificate of node %s has role %q, not %s or %s", id.NodeID, id.Role, RoleManager, RoleWorker)
	}
	return id, nil
}

// Credentials are a node's certificates, read again when their files
// change. Safe for concurrent use.
type Credentials struct {
	files Files

	mu  sync.Mutex
	cur *material
	// stamp is what the files looked like when cur was read.
	stamp [3]fileStamp
	// lastErr is the last reload's error, kept so that a rotation caught
	// half-written is reported once and retried at the next handshake.
	lastErr error
}

// material is one consistent reading of the files.
type material struct {
	cert  tls.Certificate
	leaf  *x509.Certificate
	id    Identity
	roots *x509.CertPool
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// Load reads the files once and fails if they do not make a Swarm node's
// credentials (missing, unreadable, key not matching, subject not a
// node's); later changes are read as they come.
func Load(files Files) (*Credentials, error) {
	c := &Credentials{files: files}
	stamp, err := c.stamps()
	if err != nil {
		return nil, err
	}
	m, err := readMaterial(files)
	if err != nil {
		return nil, err
	}
	c.cur, c.stamp = m, stamp
	return c, nil
}

// Identity returns who the current certificate names.
func (c *Credentials) Identity() Identity { return c.current().id }

// Reload reads the files again if they changed since the last reading and
// returns the error of that reading; on error the previous credentials stay
// in use. Handshakes call it; so may a caller that wants to know.
func (c *Credentials) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reloadLocked()
	return c.lastErr
}

// current returns the credentials to use now, read again first if the
// files changed.
func (c *Credentials) current() *material {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reloadLocked()
	return c.cur
}

func (c *Credentials) reloadLocked() {
	stamp, err := c.stamps()
	if err == nil && stamp == c.stamp {
		return
	}
	var m *material
	if err == nil {
		m, err = readMaterial(c.files)
	}
	if err != nil {
		// A rotation writes the files one by one: a certificate that
		// does not match its key yet is read again at the next handshake.
		c.lastErr = err
		return
	}
	c.cur, c.stamp, c.lastErr = m, stamp, nil
}

func (c *Credentials) stamps() ([3]fileStamp, error) {
	var st [3]fileStamp
	for i, p := range []string{c.files.Cert, c.files.Key, c.files.CA} {
		fi, err := os.Stat(p)
		if err != nil {
			return st, fmt.Errorf("swarm certificates: %w", err)
		}
		st[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return st, nil
}

func readMaterial(f Files) (*material, error) {
	certPEM, err := os.ReadFile(f.Cert)
	if err != nil {
		return nil, fmt.Errorf("read swarm certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(f.Key)
	if err != nil {
		return nil, fmt.Errorf("read swarm key: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("read swarm root CA: %w", err)
	}
	if bytes.Contains(keyPEM, []byte("ENCRYPTED")) {
		return nil, fmt.Errorf("swarm key %s is encrypted (is the Swarm autolocked?); give --peer-cert and --peer-key of an unencrypted pair", f.Key)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("swarm certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	id, err := IdentityOf(cert.Leaf)
	if err != nil {
		return nil, fmt.Errorf("swarm certificate %s: %w", f.Cert, err)
	}
	roots := x509.NewCertPool()
	n := 0
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		ca, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("swarm root CA %s: %w", f.CA, err)
		}
		roots.AddCert(ca)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("swarm root CA %s: no certificate in it", f.CA)
	}
	return &material{cert: cert, leaf: cert.Leaf, id: id, roots: roots}, nil
}

// ErrRefused is wrapped by every error that refuses a peer's certificate.
var ErrRefused = errors.New("peer refused")

// verifyPeer checks a peer's chain against the current roots and its
// subject against this node's cluster; usage is the key usage the peer's
// end needs, roles the roles it may have.
func verifyPeer(m *material, chain []*x509.Certificate, usage x509.ExtKeyUsage, roles ...string) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrRefused)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots: m.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage},
	}); err != nil {
		return Identity{}, fmt.Errorf("%w: certificate of %q is not of this Swarm's CA: %v", ErrRefused, chain[0].Subject.String(), err)
	}
	id, err := IdentityOf(chain[0])
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if id.Cluster != m.id.Cluster {
		return id, fmt.Errorf("%w: node %s is of cluster %s, not %s", ErrRefused, id.NodeID, id.Cluster, m.id.Cluster)
	}
	for _, r := range roles {
		if id.Role == r {
			return id, nil
		}
	}
	return id, fmt.Errorf("%w: node %s is a %s, not a %s", ErrRefused, id.NodeID, id.Role, strings.Join(roles, " or "))
}

// ServerConfig is the TLS configuration of a manager instance's peer
// listener: every handshake takes the current files, requires a client
// certificate and admits a node of this cluster, manager or worker.
func (c *Credentials) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := c.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{m.cert},
				// Verified below against the roots of this handshake.
				ClientAuth: tls.RequireAnyClientCert,
				NextProtos: []string{"h2"},
				VerifyConnection: func(cs tls.ConnectionState) error {
					_, err := verifyPeer(m, cs.PeerCertificates, x509.ExtKeyUsageClientAuth, RoleManager, RoleWorker)
					return err
				},
			}, nil
		},
	}
}

// ClientConfig is the TLS configuration of a follower's connection: it
// presents the current certificate and admits only a manager of this
// cluster. Peers are named by their certificate, not by an address.
func (c *Credentials) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and subject are verified below, against the roots
		// read at this handshake; Swarm certificates name no address.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m := c.current()
			return &m.cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPeer(c.current(), cs.PeerCertificates, x509.ExtKeyUsageServerAuth, RoleManager)
			return err
		},
	}
}

// PeerIdentity returns the identity of the verified peer of a connection
// made with one of these configurations.
func PeerIdentity(cs tls.ConnectionState) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrRefused)
	}
	return IdentityOf(cs.PeerCertificates[0])
}

// Package secondary starts a real secondary DNS server — Knot (knotd),
// NSD or BIND (named), from their Debian packages — configured to
// transfer zones from a primary, each in a temporary directory of its own
// with a port picked at run time, in the foreground, for tests.
package secondary

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/internal/freeport"
)

// Kind names a secondary server.
type Kind string

// The servers Start knows, and the Debian package of each.
const (
	Knot Kind = "knot"
	NSD  Kind = "nsd"
	BIND Kind = "bind9"
)

// Kinds are every Kind.
var Kinds = []Kind{Knot, NSD, BIND}

// Key is a TSIG key as the servers' configurations take it.
type Key struct {
	Name      string // without the trailing dot
	Algorithm string // "hmac-sha256"
	Secret    string // base64
}

// Config says what a secondary transfers and from where.
type Config struct {
	Kind    Kind
	Primary netip.AddrPort
	Zones   []string // FQDNs
	// Key signs the secondary's transfers and NOTIFY checks; nil: none.
	Key *Key
	// Port is the port to serve on (UDP and TCP, 127.0.0.1); 0 picks one.
	Port uint16
}

// Secondary is a running secondary server.
type Secondary struct {
	Config
	Addr netip.AddrPort // where it answers
	Dir  string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

var binaries = map[Kind]string{Knot: "knotd", NSD: "nsd", BIND: "named"}

// Binary finds a kind's server program, in PATH or /usr/sbin.
func Binary(k Kind) (string, error) {
	name := binaries[k]
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := "/usr/sbin/" + name
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: install the Debian package %s", name, k)
}

// Start writes the configuration and starts the server; it is stopped at
// the end of the test.
func Start(t testing.TB, cfg Config) *Secondary {
	t.Helper()
	bin, err := Binary(cfg.Kind)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port == 0 {
		cfg.Port = freeport.Loopback(t)
	}
	dir, err := os.MkdirTemp("", "swarmdns-"+string(cfg.Kind)+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Secondary{Config: cfg, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), cfg.Port), Dir: dir, done: make(chan struct{})}
	conf := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(conf, s.render(), 0o644); err != nil {
		t.Fatal(err)
	}
	s.log = filepath.Join(dir, "server.log")
	out, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	switch cfg.Kind {
	case Knot:
		args = []string{"-c", conf}
	case NSD:
		args = []string{"-d", "-c", conf}
	case BIND:
		args = []string{"-g", "-d", "3", "-n", "1", "-c", conf}
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { s.cmd.Wait(); out.Close(); close(s.done) }()
	t.Cleanup(s.Stop)
	// Up when it answers a query at all.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := &dns.Client{Timeout: 200 * time.Millisecond}
		m := new(dns.Msg)
		m.SetQuestion(cfg.Zones[0], dns.TypeSOA)
		if _, _, err := c.Exchange(m, s.Addr.String()); err == nil {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited at start:\n%s", cfg.Kind, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer on %s:\n%s", cfg.Kind, s.Addr, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server and waits for it.
func (s *Secondary) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Log returns what the server logged so far.
func (s *Secondary) Log() string {
	raw, _ := os.ReadFile(s.log)
	own, _ := os.ReadFile(filepath.Join(s.Dir, "nsd.log")) // NSD's logfile
	return string(raw) + string(own)
}

// ZoneFile is where the server keeps a transferred zone as a text file.
func (s *Secondary) ZoneFile(zone string) string {
	return filepath.Join(s.Dir, strings.TrimSuffix(zone, ".")+".zone")
}

// Serial returns the SOA serial the secondary answers for zone.
func (s *Secondary) Serial(zone string) (uint32, error) {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	r, _, err := c.Exchange(m, s.Addr.String())
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return 0, fmt.Errorf("%s: SOA of %s: %s", s.Kind, zone, dns.RcodeToString[r.Rcode])
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, fmt.Errorf("%s: SOA of %s: got %s", s.Kind, zone, r.Answer[0])
	}
	return soa.Serial, nil
}

// WaitSerial waits until the secondary serves zone at serial.
func (s *Secondary) WaitSerial(zone string, serial uint32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var got uint32
	var err error
	for time.Now().Before(deadline) {
		if got, err = s.Serial(zone); err == nil && got == serial {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%s never served %s at serial %d: %w", s.Kind, zone, serial, err)
	}
	return fmt.Errorf("%s serves %s at serial %d, want %d", s.Kind, zone, got, serial)
}

func (s *Secondary) render() []byte {
	var b bytes.Buffer
	tmpl := template.Must(template.New("").Funcs(template.FuncMap{
		"trim": func(z string) string { return strings.TrimSuffix(z, ".") },
	}).Parse(configs[s.Kind]))
	if err := tmpl.Execute(&b, s); err != nil {
		panic(err)
	}
	return b.Bytes()
}

var configs = map[Kind]string{
	Knot: `server:
    rundir: "{{.Dir}}"
    pidfile: "{{.Dir}}/knot.pid"
    listen: 127.0.0.1@{{.Port}}
log:
  - target: stderr
    any: info
database:
    storage: "{{.Dir}}"
{{- with .Key}}
key:
  - id: {{.Name}}
    algorithm: {{.Algorithm}}
    secret: {{.Secret}}
{{- end}}
remote:
  - id: primary
    address: {{.Primary.Addr}}@{{.Primary.Port}}
{{- with .Key}}
    key: {{.Name}}
{{- end}}
acl:
  - id: notify_from_primary
    address: {{.Primary.Addr}}
    action: notify
{{- with .Key}}
    key: {{.Name}}
{{- end}}
template:
  - id: default
    storage: "{{.Dir}}"
    file: "%s.zone"
    zonefile-sync: 0
    zonefile-load: none
    journal-content: none
zone:
{{- range .Zones}}
  - domain: {{.}}
    master: primary
    acl: notify_from_primary
{{- end}}
`,
	NSD: `server:
    ip-address: 127.0.0.1@{{.Port}}
    port: {{.Port}}
    username: ""
    chroot: ""
    zonesdir: "{{.Dir}}"
    database: ""
    pidfile: "{{.Dir}}/nsd.pid"
    xfrdfile: "{{.Dir}}/xfrd.state"
    xfrdir: "{{.Dir}}"
    zonelistfile: "{{.Dir}}/zone.list"
    logfile: "{{.Dir}}/nsd.log"
    verbosity: 5
    server-count: 1
    zonefiles-write: 1
remote-control:
    control-enable: no
{{- with .Key}}
key:
    name: {{.Name}}
    algorithm: {{.Algorithm}}
    secret: "{{.Secret}}"
{{- end}}
{{- $s := .}}
{{- range .Zones}}
zone:
    name: {{.}}
    zonefile: "{{trim .}}.zone"
    allow-notify: {{$s.Primary.Addr}} {{with $s.Key}}{{.Name}}{{else}}NOKEY{{end}}
    request-xfr: {{$s.Primary.Addr}}@{{$s.Primary.Port}} {{with $s.Key}}{{.Name}}{{else}}NOKEY{{end}}
{{- end}}
`,
	BIND: `options {
    directory "{{.Dir}}";
    listen-on port {{.Port}} { 127.0.0.1; };
    listen-on-v6 { none; };
    pid-file "{{.Dir}}/named.pid";
    session-keyfile "{{.Dir}}/session.key";
    managed-keys-directory "{{.Dir}}";
    recursion no;
    dnssec-validation no;
    allow-query { any; };
    notify no;
};
controls { };
{{- with .Key}}
key "{{.Name}}" { algorithm {{.Algorithm}}; secret "{{.Secret}}"; };
{{- end}}
{{- $s := .}}
{{- range .Zones}}
zone "{{trim .}}" {
    type secondary;
    primaries port {{$s.Primary.Port}} { {{$s.Primary.Addr}}{{with $s.Key}} key "{{.Name}}"{{end}}; };
    file "{{trim .}}.zone";
    masterfile-format text;
    allow-notify { {{$s.Primary.Addr}}; };
};
{{- end}}
`,
}

//go:build e2e

package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// engineSocket is the real dockerd's API socket.
const engineSocket = "/var/run/docker.sock"

// recordingProxy is a unix socket in front of the real Engine API socket
// that passes every request through, streams included, and records its
// method and path.
type recordingProxy struct {
	sock string
	mu   sync.Mutex
	reqs []string
}

func startRecordingProxy(t *testing.T) *recordingProxy {
	t.Helper()
	// A short directory: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "swarmdns-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &recordingProxy{sock: filepath.Join(dir, "docker.sock")}
	ln, err := net.Listen("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", engineSocket)
		}},
		FlushInterval: -1, // /events streams
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, r.Method+" "+r.URL.Path)
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// requests returns the requests so far, as "METHOD /path".
func (p *recordingProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// apiVersion is the optional version prefix of Engine API paths.
var apiVersion = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

// endpoint reduces a request path to the form docs/security.md lists: no
// version prefix, object IDs as {id}.
func endpoint(path string) string {
	path = apiVersion.ReplaceAllString(path, "")
	parts := strings.Split(path, "/")
	// /networks/{id}, /containers/{id}/json, ...
	if len(parts) >= 3 && parts[2] != "json" {
		parts[2] = "{id}"
	}
	return strings.Join(parts, "/")
}

// documentedEndpoints reads the table of docs/security.md, "Restricting
// the Docker API": each "METHOD /path" a socket proxy must allow.
func documentedEndpoints(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "## Restricting the Docker API")
	if !ok {
		t.Fatal(`docs/security.md has no "Restricting the Docker API" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	paths := regexp.MustCompile("`([^`]+)`")
	out := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) != 4 || strings.Contains(cols[1], "method") || strings.Contains(cols[1], "---") {
			continue
		}
		for _, m := range strings.Split(cols[1], ",") {
			for _, p := range paths.FindAllStringSubmatch(cols[2], -1) {
				out[strings.TrimSpace(m)+" "+p[1]] = true
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/security.md: no endpoints in the table")
	}
	return out
}

// TestSwarmSourceOnlyReadsTheEngine drives the real swarmdns binary through
// a recording proxy socket in front of the real dockerd (--docker-host
// unix://proxy) while a real service is scaled up and down, so that the
// event stream delivers and follow-up syncs run: every request is a GET
// (or HEAD /_ping) on an endpoint the socket-proxy table of
// docs/security.md lists, and the event stream was among them.
func TestSwarmSourceOnlyReadsTheEngine(t *testing.T) {
	proxy := startRecordingProxy(t)
	in := startInstance(t, "127.0.0.1:0", false, "--docker-host", "unix://"+proxy.sock)
	r := in.resolver()
	ctx := context.Background()
	svc := fx.rr
	answers := func(n int) func() bool {
		return func() bool {
			want, err := fx.addrsOn(ctx, svc, fx.netAID)
			return err == nil && len(want) == n &&
				strings.Join(r.query("tasks."+svc, dns.TypeA, time.Second).a, ",") == strings.Join(want, ",")
		}
	}
	if err := waitFor(20*time.Second, answers(2)); err != nil {
		t.Fatalf("swarmdns behind the proxy does not serve tasks.%s: %v", svc, err)
	}
	mustDocker(t, "service", "scale", "-d", svc+"=3")
	t.Cleanup(func() {
		docker("service", "scale", "-d", svc+"=2")
		fx.waitRunning(svc, 2, 60*time.Second)
	})
	if err := waitFor(60*time.Second, answers(3)); err != nil {
		t.Fatalf("swarmdns behind the proxy did not see the scale to 3: %v", err)
	}
	mustDocker(t, "service", "scale", "-d", svc+"=2")
	if err := waitFor(60*time.Second, answers(2)); err != nil {
		t.Fatalf("swarmdns behind the proxy did not see the scale back to 2: %v", err)
	}

	allowed := documentedEndpoints(t)
	seen := map[string]int{}
	for _, req := range proxy.requests() {
		method, path, _ := strings.Cut(req, " ")
		seen[method+" "+endpoint(path)]++
	}
	var kinds []string
	for k, n := range seen {
		kinds = append(kinds, k+" ×"+strconv.Itoa(n))
		if !allowed[k] {
			t.Errorf("swarmdns sent %s (%d times), which docs/security.md does not allow", k, n)
		}
		if m, _, _ := strings.Cut(k, " "); m != http.MethodGet && k != "HEAD /_ping" {
			t.Errorf("swarmdns sent %s: not a read", k)
		}
	}
	slices.Sort(kinds)
	t.Logf("requests by endpoint: %s", strings.Join(kinds, ", "))
	for _, must := range []string{"GET /events", "GET /services", "GET /tasks"} {
		if seen[must] == 0 {
			t.Errorf("no %s through the proxy: the recording missed the source's traffic", must)
		}
	}
}

//go:build multinode

package multinode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SidecarService is the sidecar's service in stack (deploy/stack.yml
// names it swarmdns).
func SidecarService(stack string) string { return stack + "_swarmdns" }

// OpsAddr is where the stack's sidecar serves its operations API, in its
// node's network namespace.
const OpsAddr = "127.0.0.1:8053"

// Get fetches path from an HTTP server at hostport in the node's network
// namespace (a sidecar's operations API: OpsAddr) and returns the status
// code and body.
func (n *Node) Get(ctx context.Context, hostport, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl := http.Client{Transport: &http.Transport{DialContext: DialIn(n.Netns), DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostport+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s%s on %s: %w", hostport, path, n, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Metric returns the sum of the samples of metric name (any labels) in a
// Prometheus text body, and whether there was one.
func Metric(body, name string) (float64, bool) {
	sum, found := 0.0, false
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// Metrics returns the /metrics body of the sidecar whose operations API is
// at hostport on node n.
func (n *Node) Metrics(ctx context.Context, hostport string) (string, error) {
	code, body, err := n.Get(ctx, hostport, "/metrics")
	if err == nil && code != 200 {
		err = fmt.Errorf("/metrics on %s: %d", n, code)
	}
	return body, err
}

// LogLine is one JSON log line of a sidecar (--log-format=json).
type LogLine map[string]any

func (l LogLine) String() string { b, _ := json.Marshal(l); return string(b) }

// Msg is the line's message.
func (l LogLine) Msg() string { s, _ := l["msg"].(string); return s }

// Field is a field of the line as text ("" when absent).
func (l LogLine) Field(k string) string {
	if v, ok := l[k]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

// Logs returns the JSON log lines container id on node n wrote since
// since (docker logs: standard output and error).
func (n *Node) Logs(ctx context.Context, id string, since time.Time) ([]LogLine, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, dockerCLI(), "-H", n.Socket, "logs", "--since", since.UTC().Format(time.RFC3339Nano), id)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("docker logs %s on %s: %w: %s", id, n, err, out.String())
	}
	var lines []LogLine
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var l LogLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

// WithMsg returns the lines whose message is msg.
func WithMsg(lines []LogLine, msg string) []LogLine {
	var out []LogLine
	for _, l := range lines {
		if l.Msg() == msg {
			out = append(out, l)
		}
	}
	return out
}

// SwarmdnsContainer is a swarmdns container started by RunSwarmdns beside the
// stack's sidecar: DNS and the operations API on free loopback ports of
// its node.
type SwarmdnsContainer struct {
	Node          *Node
	ID            string
	DNS, HTTPAddr string // host:port in the node's network namespace
}

// RunSwarmdns runs `swarmdns serve args…` from the sidecar image on node n
// as the stack runs it (host network, root with no capability but
// NET_BIND_SERVICE, the node's Docker socket and Swarm certificates read
// only), with DNS and the operations API on free ports of 127.0.0.1 and
// JSON logs, and removes it when the test ends.
func (n *Node) RunSwarmdns(t testing.TB, args ...string) *SwarmdnsContainer {
	t.Helper()
	dnsPort, err := n.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	httpPort, err := n.FreePort()
	for err == nil && httpPort == dnsPort {
		httpPort, err = n.FreePort()
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &SwarmdnsContainer{Node: n, DNS: net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort)), HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))}
	run := []string{"run", "--detach", "--label", Label, "--name", UniqueName("mn-swarmdns"), "--network", "host",
		"--user", "0:0", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
		"--volume", "/var/run/docker.sock:/var/run/docker.sock:ro",
		"--volume", "/var/lib/docker/swarm/certificates:/var/lib/docker/swarm/certificates:ro",
		SidecarImage(), "serve", "--listen", s.DNS, "--http-listen", s.HTTPAddr, "--log-format", "json"}
	if s.ID, err = n.Docker(t.Context(), append(run, args...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := n.Docker(context.Background(), "rm", "--force", s.ID); err != nil {
			t.Errorf("remove swarmdns container on %s: %v", n, err)
		}
	})
	return s
}

// Ready returns the /readyz status code and body.
func (s *SwarmdnsContainer) Ready(ctx context.Context) (int, string, error) {
	return s.Node.Get(ctx, s.HTTPAddr, "/readyz")
}

package swarm

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/swarmdns/swarmdns/registry/registrytest"
)

// With no Docker engine at all (a socket nobody listens on), the warning
// says what to do, and says it again every minute while it lasts, not at
// every retry.
func TestNoDockerEngineWarnsWhatToDoOnceAMinute(t *testing.T) {
	for _, env := range []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION", "DOCKER_CONTEXT"} {
		t.Setenv(env, "")
	}
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	host := "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")
	src, err := NewSource(Config{DockerHost: host, PollInterval: 10 * time.Millisecond, Logger: logrus.NewEntry(logger)})
	if err != nil {
		t.Fatal(err)
	}
	sink := registrytest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	sink.Next(t) // describe
	for range 3 {
		if got := sink.Next(t); got != "failed" {
			t.Fatalf("reported %q, want failed", got)
		}
	}
	cancel()
	<-done

	var warnings []*logrus.Entry
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			warnings = append(warnings, e)
		}
	}
	if len(warnings) != 1 || warnings[0].Message != "manager unreachable" {
		t.Fatalf("warnings %v, want one 'manager unreachable'", warnings)
	}
	fix, _ := warnings[0].Data["fix"].(string)
	for _, want := range []string{"start Docker", "DOCKER_HOST", "--docker-host", "--registry-file"} {
		if !strings.Contains(fix, want) {
			t.Errorf("fix %q does not mention %s", fix, want)
		}
	}
	if warnings[0].Data["engine"] != host {
		t.Errorf("engine %v, want %s", warnings[0].Data["engine"], host)
	}

	// The same failure a minute later is said again, with how long.
	err, _ = warnings[0].Data[logrus.ErrorKey].(error)
	var u unreachable
	hook.Reset()
	t0 := time.Now()
	for _, at := range []time.Duration{0, time.Second, 59 * time.Second, time.Minute, 61 * time.Second, 2 * time.Minute} {
		u.failed(logrus.NewEntry(logger), host, err, t0.Add(at))
	}
	var said []string
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			long, _ := e.Data["for"].(string)
			said = append(said, strings.TrimSpace(e.Message+" "+long))
		}
	}
	if got := strings.Join(said, "; "); got != "manager unreachable; manager still unreachable 1m0s; manager still unreachable 2m0s" {
		t.Errorf("warned %q", got)
	}
	u.reached(logrus.NewEntry(logger))
	if last := hook.LastEntry(); last.Message != "manager reachable again" {
		t.Errorf("last line %q, want manager reachable again", last.Message)
	}
}

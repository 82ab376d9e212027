package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/swarmdns/swarmdns/registry/file"
)

// TestTasksCountTheSameEverywhere runs the real swarmdns serve on the
// example registry, which holds a task that is not running, and holds
// every place that says "tasks" to one count: the serve log, check,
// /v1/registry and /metrics.
func TestTasksCountTheSameEverywhere(t *testing.T) {
	const example = "../../examples/registry.yaml"
	d, err := file.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tasks) == d.RunningTasks() {
		t.Fatalf("the example registry has no task that is not running; this test needs one")
	}
	want := d.RunningTasks()

	p := startServe(t)
	loaded := p.waitLog(t, func(m map[string]any) bool { return m["msg"] == "registry file loaded" })
	got := map[string]int{}
	if n, ok := loaded["tasks"].(float64); ok {
		got["serve log tasks="] = int(n)
	} else {
		t.Errorf("the registry file loaded log line has no tasks field: %v", loaded)
	}

	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"check", "--registry-file", example})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(\d+) running tasks`).FindStringSubmatch(out.String()); m != nil {
		got["check"], _ = strconv.Atoi(m[1])
	} else {
		t.Errorf("check printed %q, without a task count", out.String())
	}

	_, body := p.get(t, "/v1/registry")
	var reg struct {
		Stats struct{ Tasks int } `json:"stats"`
	}
	if err := json.Unmarshal([]byte(body), &reg); err != nil {
		t.Fatal(err)
	}
	got["/v1/registry stats.tasks"] = reg.Stats.Tasks

	_, metrics := p.get(t, "/metrics")
	if m := regexp.MustCompile(`(?m)^swarmdns_registry_tasks (\d+)$`).FindStringSubmatch(metrics); m != nil {
		got["swarmdns_registry_tasks"], _ = strconv.Atoi(m[1])
	} else {
		t.Error("/metrics has no swarmdns_registry_tasks")
	}

	for where, n := range got {
		if n != want {
			t.Errorf("%s counts %d tasks, want the %d running ones", where, n, want)
		}
	}
	if len(got) != 4 {
		t.Errorf("counted in %d places, want 4: %s", len(got), fmt.Sprint(got))
	}
}

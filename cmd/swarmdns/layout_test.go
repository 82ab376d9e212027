package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/swarmdns/swarmdns"

// The I/O libraries of the sources, by import path prefix.
var sourceLibraries = []string{"github.com/docker/", "go.yaml.in/yaml", "gopkg.in/yaml", "github.com/fsnotify/"}

// goList runs `go list` on patterns with format and returns its lines.
func goList(t *testing.T, format string, flags []string, patterns ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the layout test needs the go command: %v", err)
	}
	args := append(append([]string{"list", "-f", format}, flags...), patterns...)
	out, err := exec.Command(gobin, args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestServerAndSchedulerDoNotDependOnSourceLibraries holds the layout of
// docs/architecture.md: answering DNS and ordering answers need neither
// the Docker SDK nor yaml nor fsnotify, which only the sources use. Test
// files do not count.
func TestServerAndSchedulerDoNotDependOnSourceLibraries(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
	}{
		{"the server and its forwarder", module + "/server/..."},
		{"the schedulers", module + "/scheduler/..."},
		{"the registry's model, store and build", module + "/registry"},
		{"operations", module + "/ops/..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deps := goList(t, "{{.ImportPath}}", []string{"-deps"}, tt.pattern)
			if len(deps) < 2 {
				t.Fatalf("go list -deps %s listed %d packages", tt.pattern, len(deps))
			}
			for _, dep := range deps {
				for _, lib := range sourceLibraries {
					if strings.HasPrefix(dep, lib) {
						t.Errorf("%s depends on %s", tt.pattern, dep)
					}
				}
			}
		})
	}
}

// TestEachSourceLibraryHasOneImporter holds that among registry, server,
// scheduler and ops, only registry/swarm imports the Docker SDK and only
// registry/file imports yaml and fsnotify.
func TestEachSourceLibraryHasOneImporter(t *testing.T) {
	owner := map[string]string{
		"github.com/docker/":   module + "/registry/swarm",
		"go.yaml.in/yaml":      module + "/registry/file",
		"gopkg.in/yaml":        module + "/registry/file",
		"github.com/fsnotify/": module + "/registry/file",
	}
	lines := goList(t, `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, nil,
		module+"/registry/...", module+"/server/...", module+"/scheduler/...", module+"/ops/...")
	seen := map[string]bool{}
	for _, line := range lines {
		fields := strings.Fields(line)
		pkg := fields[0]
		for _, imp := range fields[1:] {
			for lib, want := range owner {
				if strings.HasPrefix(imp, lib) {
					seen[pkg] = true
					if pkg != want {
						t.Errorf("%s imports %s; only %s may", pkg, imp, want)
					}
				}
			}
		}
	}
	for _, want := range []string{module + "/registry/swarm", module + "/registry/file"} {
		if !seen[want] {
			t.Errorf("%s imports none of the source libraries: is the check still looking at the right packages?", want)
		}
	}
}

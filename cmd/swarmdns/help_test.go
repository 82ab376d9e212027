package main

import (
	"bytes"
	"strings"
	"testing"
)

// runRoot executes the root command with args and returns what it printed.
func runRoot(t *testing.T, args ...string) string {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("swarmdns %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

func TestVersionFlagPrintsWhatTheVersionCommandPrints(t *testing.T) {
	want := "swarmdns " + version + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if got := runRoot(t, args...); got != want {
			t.Errorf("swarmdns %s printed %q, want %q", strings.Join(args, " "), got, want)
		}
	}
}

func TestServeHelpNamesTheEnvironmentFormAndTheReloadableSettings(t *testing.T) {
	help := runRoot(t, "serve", "--help")
	for _, want := range []string{"SWARMDNS_MAX_ANSWERS", "upper case with dashes as underscores", "SIGHUP", "needs a restart"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help does not say %q:\n%s", want, help)
		}
	}
	marked := map[string]bool{}
	for _, line := range strings.Split(help, "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.HasPrefix(fields[0], "--") && strings.Contains(line, "(reloads on SIGHUP)") {
			marked[strings.TrimPrefix(fields[0], "--")] = true
		}
	}
	for _, name := range reloadable {
		if !marked[name] {
			t.Errorf("serve --help does not mark --%s as reloading on SIGHUP", name)
		}
		delete(marked, name)
	}
	for name := range marked {
		t.Errorf("serve --help marks --%s as reloading on SIGHUP; it does not", name)
	}
}

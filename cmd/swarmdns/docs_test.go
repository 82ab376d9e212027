package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swarmdns/swarmdns/registry"
)

// TestConfigurationDocListsEverySetting keeps docs/configuration.md in
// step with the code: every flag of every command, its environment
// variable, every label and every reloadable setting must be in it.
func TestConfigurationDocListsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			for _, want := range []string{"`--" + f.Name + "`", "`" + envName(f.Name) + "`"} {
				if !strings.Contains(doc, want) {
					t.Errorf("docs/configuration.md does not mention %s (flag of %q)", want, c.CommandPath())
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
	for _, label := range []string{registry.LabelResolve, registry.LabelPorts, registry.LabelTTL, registry.LabelScheduler, registry.LabelWeight} {
		if !strings.Contains(doc, "`"+label+"`") {
			t.Errorf("docs/configuration.md does not mention label `%s`", label)
		}
	}
	for _, name := range reloadable {
		if !strings.Contains(doc, "`"+name+"` (reloadable)") && !strings.Contains(doc, "| `--"+name+"` | reloadable") {
			t.Errorf("docs/configuration.md does not mark `%s` (reloadable)", name)
		}
	}
}

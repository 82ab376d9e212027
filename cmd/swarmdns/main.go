// Command swarmdns is an authoritative DNS server for Docker Swarm service
// names; see docs/ for its flags, names and deployment.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "swarmdns:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "swarmdns",
		Short:         "Authoritative DNS for Docker Swarm service names",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			return applyConfigFile(cmd.Flags())
		},
	}
	root.SetVersionTemplate("swarmdns {{.Version}}\n") // as `swarmdns version` prints it
	root.AddCommand(newServeCommand(), newVersionCommand(), newCheckCommand())
	for _, c := range append(root.Commands(), root) {
		c.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return flagError(c.Flags(), err) })
	}
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "swarmdns", version)
		},
	}
}

// envName is the environment variable of a flag: --max-answers reads
// SWARMDNS_MAX_ANSWERS.
func envName(flag string) string {
	return "SWARMDNS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable. A list flag takes a comma-separated list.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if sv, isList := f.Value.(pflag.SliceValue); isList {
			var items []string
			if v != "" {
				items = strings.Split(v, ",")
			}
			err = sv.Replace(items)
		} else {
			err = f.Value.Set(v)
		}
		if err != nil {
			err = valueError(envName(f.Name), f, v)
		}
	})
	return err
}

// newLogger configures logrus from --log-level and --log-format.
func newLogger(level, format string) (*logrus.Logger, error) {
	log := logrus.New()
	if err := configureLogger(log, level, format); err != nil {
		return nil, err
	}
	return log, nil
}

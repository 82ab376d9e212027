package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swarmdns/swarmdns/registry/file"
)

func newCheckCommand() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a registry file and print every problem (exits 1 when there is one)",
		Long: `Validate a registry file (docs/registry-file.md) as serve would load it, and
print every problem as FILE:LINE: field: reason. The file is the argument or
--registry-file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && path != "" && args[0] != path:
				return fmt.Errorf("check: two files, %s and --registry-file %s; give one", args[0], path)
			case len(args) == 1:
				path = args[0]
			case path == "":
				return errors.New("check: give the registry file: swarmdns check FILE")
			}
			d, err := file.Load(path)
			if err != nil {
				problems := strings.Split(err.Error(), "\n")
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p)
				}
				return fmt.Errorf("%s: %d problem(s)", path, len(problems))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d services, %d running tasks, %d networks)\n", path, len(d.Services), d.RunningTasks(), len(d.Networks))
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "registry-file", "", "the YAML registry file to validate")
	return cmd
}

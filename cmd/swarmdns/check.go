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
		Use:   "check",
		Short: "Validate a registry file and print every problem (exits 1 when there is one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("check: give --registry-file")
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

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swarmdns/swarmdns/registry"
)

func newCheckCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a registry file and print every problem (exits 1 when there is one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("check: give --registry-file")
			}
			d, err := registry.LoadFile(file)
			if err != nil {
				problems := strings.Split(err.Error(), "\n")
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p)
				}
				return fmt.Errorf("%s: %d problem(s)", file, len(problems))
			}
			running := 0
			for _, t := range d.Tasks {
				if t.State == registry.TaskRunning {
					running++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d services, %d running tasks, %d networks)\n", file, len(d.Services), running, len(d.Networks))
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "registry-file", "", "the YAML registry file to validate")
	return cmd
}

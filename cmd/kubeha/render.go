package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/state"
)

func (c *cmdContext) renderCmd() *cobra.Command {
	var outDir string
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Write every file kubeha would write on each host to DIR/<host>/<path>, connecting to nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outDir == "" {
				return usageError{fmt.Errorf("render needs -o DIR")}
			}
			cl, err := c.loadInventory()
			if err != nil {
				return err
			}
			files, err := phases.RenderAll(c.app.registry(), cl)
			if err != nil {
				return err
			}
			for _, f := range files {
				if !filepath.IsAbs(f.Path) || strings.Contains(f.Path, "..") {
					return fmt.Errorf("render: %s: refusing path %q", f.Host, f.Path)
				}
				dst := filepath.Join(outDir, f.Host, f.Path)
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return fmt.Errorf("render: %w", err)
				}
				if err := state.WriteFileAtomic(dst, f.Content, f.Mode.Perm()); err != nil {
					return fmt.Errorf("render: %w", err)
				}
			}
			fmt.Fprintf(c.app.stdout, "rendered %d files for %d hosts into %s\n", len(files), len(cl.Spec.Hosts), outDir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outDir, "out", "o", "", "directory to write into")
	return cmd
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/bundle"
	"github.com/kubeha/kubeha/inventory"
)

func (c *cmdContext) bundleCmd() *cobra.Command {
	b := &cobra.Command{
		Use:   "bundle",
		Short: "Create or verify an air-gapped bundle (binaries, units, images) for spec.artifacts",
	}
	var from, version string
	var cni bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Write bundle.yaml for the directory --from, naming every file kubeadm will need that is missing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usageError{fmt.Errorf("bundle create needs --from DIR")}
			}
			m, warnings, err := bundle.Create(from, version, cni)
			for _, w := range warnings {
				fmt.Fprintf(c.app.stderr, "warning: %s\n", w)
			}
			if err != nil {
				return err
			}
			var size int64
			for _, f := range m.Files {
				size += f.Size
			}
			fmt.Fprintf(c.app.stdout, "wrote %s/%s: %d files, %.1f MiB, Kubernetes %s\n", from, bundle.ManifestName, len(m.Files), float64(size)/(1<<20), version)
			return nil
		},
	}
	create.Flags().StringVar(&from, "from", "", "the bundle directory (bin/, images/, units/, cni/)")
	create.Flags().StringVar(&version, "kubernetes-version", inventory.DefaultKubernetesVersion, "the Kubernetes version the bundle is for")
	create.Flags().BoolVar(&cni, "cni", true, "expect the CNI plugins in cni/ (for cni.plugin bridge on hosts without them)")
	var dir string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every file of the bundle against bundle.yaml (sizes and sha256)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := bundle.Load(dir)
			if err != nil {
				return err
			}
			if err := bundle.Verify(dir, m); err != nil {
				return err
			}
			fmt.Fprintf(c.app.stdout, "%s: %d files match bundle.yaml\n", dir, len(m.Files))
			return nil
		},
	}
	verify.Flags().StringVar(&dir, "dir", ".", "the bundle directory")
	b.AddCommand(create, verify)
	return b
}

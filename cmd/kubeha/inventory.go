package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/state"
)

func (c *cmdContext) inventoryCmd() *cobra.Command {
	inv := &cobra.Command{
		Use:   "inventory",
		Short: "Validate, show or create an inventory",
	}
	inv.AddCommand(&cobra.Command{
		Use:   "validate",
		Short: "Check the inventory offline; every problem is listed with its YAML path (exit 2 when invalid)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.loadInventory()
			if err != nil {
				return err
			}
			// Files the inventory names are needed only when a command
			// uses them: here their absence is a warning. The etcd client
			// files that exist are checked as apply checks them.
			for _, w := range missingFiles(cl) {
				fmt.Fprintf(c.app.stderr, "%s: warning: %s\n", *c.invPath, w)
			}
			ps := inventory.CheckEtcdClientFiles(cl, time.Now(), true)
			for _, p := range ps.Warnings() {
				fmt.Fprintf(c.app.stderr, "%s: %s\n", *c.invPath, p)
			}
			if errs := ps.Errors(); len(errs) > 0 {
				fmt.Fprintf(c.app.stderr, "%s is invalid:\n", *c.invPath)
				for _, p := range errs {
					fmt.Fprintf(c.app.stderr, "  %s\n", p)
				}
				return silentError{errs}
			}
			fmt.Fprintf(c.app.stdout, "%s is valid: cluster %s, %d masters, %d workers, load balancer %s, endpoint %s:%d\n",
				*c.invPath, cl.Metadata.Name, len(cl.Masters()), len(cl.Workers()), cl.Spec.LoadBalancer.Mode,
				cl.Spec.ControlPlaneEndpoint.Name, cl.Spec.ControlPlaneEndpoint.Port)
			return nil
		},
	})
	inv.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the inventory with every default filled in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.loadInventory()
			if err != nil {
				return err
			}
			out, err := inventory.Marshal(cl)
			if err != nil {
				return err
			}
			_, err = c.app.stdout.Write(out)
			return err
		},
	})
	var force bool
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented example inventory to -i FILE (or stdout with -i -)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if *c.invPath == "-" {
				_, err := c.app.stdout.Write(inventory.Example)
				return err
			}
			if _, err := os.Lstat(*c.invPath); err == nil && !force {
				return usageError{fmt.Errorf("%s exists; use --force to overwrite it", *c.invPath)}
			}
			// As the installer writes it: a new file 0600 (the inventory
			// names SSH keys), an overwritten one keeps its mode.
			if err := state.ReplaceFile(*c.invPath, inventory.Example, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(c.app.stdout, "wrote %s; edit the hosts, then run kubeha inventory validate -i %s\n", *c.invPath, *c.invPath)
			return nil
		},
	}
	initCmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	inv.AddCommand(initCmd)
	return inv
}

// missingFiles lists files the inventory names that do not exist here.
func missingFiles(cl *inventory.Cluster) []string {
	var out []string
	check := func(path, field string) {
		if path == "" {
			return
		}
		if _, err := os.Stat(expandHome(path)); err != nil {
			out = append(out, fmt.Sprintf("%s: %s does not exist here (needed when kubeha connects or applies)", field, path))
		}
	}
	s := cl.Spec
	check(s.SSH.KeyPath, "spec.ssh.keyPath")
	if s.SSH.Bastion != nil {
		check(s.SSH.Bastion.KeyPath, "spec.ssh.bastion.keyPath")
	}
	for i, h := range s.Hosts {
		if h.SSH != nil {
			check(h.SSH.KeyPath, fmt.Sprintf("spec.hosts[%d].ssh.keyPath", i))
		}
	}
	check(s.CNI.Manifest, "spec.cni.manifest")
	check(s.Kubeadm.PatchesDir, "spec.kubeadm.patchesDir")
	// The etcd client files: inventory.CheckEtcdClientFiles.
	return out
}

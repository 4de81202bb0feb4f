package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/kubeconfig"
)

// kubeconfigCmd is kubeha kubeconfig: the admin kubeconfig apply saved
// under the state dir, printed or merged into kubectl's file. It reads
// only local files and needs no host.
func (c *cmdContext) kubeconfigCmd() *cobra.Command {
	var merge bool
	var target string
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the cluster's admin kubeconfig, or merge it into kubectl's kubeconfig with --merge",
		Long: `Without flags, prints the admin kubeconfig kubeha apply saved in
<state-dir>/<cluster>/admin.conf (it holds the cluster's admin client key).

With --merge, adds it to the kubeconfig kubectl uses (the first path of
$KUBECONFIG, else ~/.kube/config; --kubeconfig overrides) as cluster NAME,
user NAME-admin and context NAME, NAME being the inventory's metadata.name,
and makes context NAME the current context. Entries of those three names are
replaced; every other cluster, user, context and field is kept. The file is
written atomically with mode 0600; a file that is not a kubeconfig is left
as it is and is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target != "" && !merge {
				return usageError{errors.New("--kubeconfig needs --merge")}
			}
			cl, err := c.loadInventory()
			if err != nil {
				return err
			}
			src := filepath.Join(*c.stateDir, cl.Metadata.Name, controlplane.AdminKubeconfigFile)
			admin, err := os.ReadFile(src)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no admin kubeconfig at %s: cluster %s has not been applied yet; run `%s` first",
					src, cl.Metadata.Name, resumeCommand(*c.invPath, *c.stateDir))
			}
			if err != nil {
				return err
			}
			c.app.secrets.Add(kubeconfig.Credentials(admin)...)
			if !merge {
				_, err := c.app.stdout.Write(admin)
				return err
			}
			if target == "" {
				home, err := os.UserHomeDir()
				if err != nil && os.Getenv("KUBECONFIG") == "" {
					return fmt.Errorf("find ~/.kube/config: %w; name the file with --kubeconfig", err)
				}
				target = kubeconfig.DefaultPath(os.Getenv("KUBECONFIG"), home)
			}
			n := kubeconfig.NamesFor(cl.Metadata.Name)
			if err := kubeconfig.MergeFile(target, admin, n); err != nil {
				return fmt.Errorf("merge %s into %s: %w", src, target, err)
			}
			fmt.Fprintf(c.app.stdout, "merged cluster %s into %s (cluster %s, user %s, context %s) and made %s the current context; use: kubectl --context %s get nodes\n",
				cl.Metadata.Name, target, n.Cluster, n.User, n.Context, n.Context, n.Context)
			return nil
		},
	}
	cmd.Flags().BoolVar(&merge, "merge", false, "merge into kubectl's kubeconfig as context NAME (the inventory's metadata.name) and make it current")
	cmd.Flags().StringVar(&target, "kubeconfig", "", "the kubeconfig to merge into (default: the first path of $KUBECONFIG, else ~/.kube/config)")
	return cmd
}

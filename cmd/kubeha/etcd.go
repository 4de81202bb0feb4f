package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/state"
)

// etcdCmd is kubeha etcd: operations on the cluster's etcd (the stacked
// one, or, for snapshots, the one kubeha built on the etcd hosts), through
// the control-plane client like every other access to it.
func (c *cmdContext) etcdCmd() *cobra.Command {
	e := &cobra.Command{Use: "etcd", Short: "Operations on the cluster's etcd"}
	var f runFlags
	var out string
	snapshot := &cobra.Command{
		Use:   "snapshot -o FILE",
		Short: "Save a snapshot of etcd, taken through a healthy member (a master's, or an etcd host's), to FILE (0600; it holds every Secret of the cluster)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("etcd snapshot needs -o FILE")}
			}
			s, err := c.open(cmd.Context(), &f)
			if err != nil {
				return err
			}
			defer s.close()
			cp := s.runner.ControlPlane.For(events.Emitter{Sink: s.runner.Events, Phase: "etcd-snapshot"})
			snap, err := cp.EtcdSnapshot(cmd.Context())
			if err != nil {
				return err
			}
			if dir := filepath.Dir(out); dir != "." {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return err
				}
			}
			if err := state.WriteFileAtomic(out, snap.Data, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(c.app.stdout, "etcd snapshot of cluster %s taken through %s at %s: %s, %d bytes, sha256 %s\n",
				s.runner.Cluster.Metadata.Name, snap.Host, snap.Taken.Format("2006-01-02T15:04:05Z"), out, len(snap.Data), snap.SHA256)
			return nil
		},
	}
	f.bind(snapshot, false)
	snapshot.Flags().StringVarP(&out, "out", "o", "", "file to write the snapshot to (written atomically, 0600)")
	e.AddCommand(snapshot, c.etcdRestoreCmd())
	return e
}

// etcdRestoreCmd is kubeha etcd restore FILE.
func (c *cmdContext) etcdRestoreCmd() *cobra.Command {
	var f runFlags
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Recover a control plane that lost etcd's quorum from a snapshot: every master's member restored from FILE",
		Long: `Restores the cluster's stacked etcd from the snapshot FILE (as kubeha etcd
snapshot saves it) on every master of the inventory at once: each master's
apiserver, controller-manager, scheduler and etcd are stopped, its member is
restored from FILE by etcdutl (run from the etcd image) into a new etcd
cluster of the inventory's masters with a new cluster token, at a revision
moved past every revision clients saw (their watches start over), etcd is
started and found healthy, then the rest of the control plane. Workers are
not touched. Each master keeps its old member directory beside the new one
(member.before-TOKEN in etcd's data directory).

Everything written to the cluster after the snapshot is lost: it is for a
control plane that cannot recover otherwise. An external etcd is refused
before anything runs: restore the one kubeha built by hand, each member
with etcdutl snapshot restore; your own with its own tools. Every master must answer and
the snapshot must pass etcdutl's check before anything stops. Cut short,
it is finished by running it again with the same FILE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageError{err}
			}
			s, err := c.open(cmd.Context(), &f)
			if err != nil {
				return err
			}
			defer s.close()
			cp := s.runner.ControlPlane.For(events.Emitter{Sink: s.runner.Events, Phase: "etcd-restore"})
			if err := cp.RestoreEtcd(cmd.Context(), data); err != nil {
				return err
			}
			fmt.Fprintf(c.app.stdout, "etcd of cluster %s restored from %s on every master; the control plane is back\n",
				s.runner.Cluster.Metadata.Name, args[0])
			return nil
		},
	}
	f.bind(restore, false)
	return restore
}

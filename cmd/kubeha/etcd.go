package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/state"
)

// etcdCmd is kubeha etcd: operations on the cluster's stacked etcd, through
// the control-plane client like every other access to it.
func (c *cmdContext) etcdCmd() *cobra.Command {
	e := &cobra.Command{Use: "etcd", Short: "Operations on the cluster's etcd"}
	var f runFlags
	var out string
	snapshot := &cobra.Command{
		Use:   "snapshot -o FILE",
		Short: "Save a snapshot of etcd, taken through a healthy member, to FILE (0600; it holds every Secret of the cluster)",
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
	e.AddCommand(snapshot)
	return e
}

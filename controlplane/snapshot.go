package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// snapshotPath is where a snapshot waits on the control host to be
// downloaded: etcd's data directory, which kubeadm mounts into the etcd pod
// at the same path, and which only root reads.
const snapshotPath = "/var/lib/etcd/kubeha-snapshot.db"

// ErrExternalEtcd means an operation on etcd met an etcd kubeha does not
// run: its snapshots are its operator's to take.
var ErrExternalEtcd = errors.New("etcd is external (spec.etcd.topology): take its snapshots with its own tools")

// Snapshot is a snapshot of the cluster's etcd. Data holds every Secret of
// the cluster: write it 0600, never print it.
type Snapshot struct {
	Data   []byte
	SHA256 string
	// Host is the master whose member it was taken from.
	Host string
	// Taken is when it was saved.
	Taken time.Time
}

// EtcdSnapshot takes a snapshot of the stacked etcd through the control
// host's member, once that member reports healthy, downloads it and checks
// the download against the sha256 the host computed. The copy on the host
// is removed whatever happens.
func (c *Client) EtcdSnapshot(ctx context.Context) (Snapshot, error) {
	if c.cluster.Spec.Etcd.Topology == inventory.EtcdExternal {
		return Snapshot{}, ErrExternalEtcd
	}
	m, err := c.Control(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	path := struct{ Path string }{snapshotPath}
	defer func() {
		// Bounded, and after a cancel too: the file holds every Secret.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := c.quiet(rctx, m.Name, "remove the etcd snapshot", scripts.Render("controlplane/etcd-snapshot-remove", path)); err != nil {
			c.log.ForHost(m.Name).Warn("could not remove " + snapshotPath + ": remove it by hand (it holds every Secret of the cluster): " + err.Error())
		}
	}()
	body := scripts.Render("controlplane/etcd-snapshot", struct{ Pod, Path string }{"etcd-" + m.Name, snapshotPath})
	res, err := c.exec(ctx, m.Name, ssh.Command{Name: "save an etcd snapshot", Script: Frame(m, Own, "60s", body).String()}, false)
	if err != nil {
		return Snapshot{}, err
	}
	taken := time.Now().UTC()
	want := strings.TrimSpace(scripts.Sections(res.Stdout)["sha256"])
	data, err := c.hosts.Download(ctx, m.Name, snapshotPath)
	if err != nil {
		return Snapshot{}, err
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if got != want {
		return Snapshot{}, fmt.Errorf("%s: the downloaded snapshot's sha256 is %s, the host's %q: take it again", m.Name, got, want)
	}
	c.log.ForHost(m.Name).Info(fmt.Sprintf("etcd snapshot saved through %s's member: %d bytes, sha256 %s", m.Name, len(data), got))
	return Snapshot{Data: data, SHA256: got, Host: m.Name, Taken: taken}, nil
}

// UpgradeSnapshotPath is where an upgrade to version keeps the snapshot it
// takes before it changes anything.
func (c *Client) UpgradeSnapshotPath(version string) string {
	return filepath.Join(c.stateDir, "etcd-before-"+version+".db")
}

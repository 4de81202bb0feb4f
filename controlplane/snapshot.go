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

// snapshotPath is where a snapshot waits on the control host (or the
// etcd host) to be downloaded: etcd's data directory, which kubeadm mounts
// into the etcd pod at the same path, and which only root reads.
const snapshotPath = "/var/lib/etcd/kubeha-snapshot.db"

// ErrExternalEtcd means an operation on etcd met an etcd the operator
// runs (spec.etcd.external.endpoints): its snapshots and restores are its
// operator's to make.
var ErrExternalEtcd = errors.New("etcd is your own (spec.etcd.external.endpoints), which kubeha does not run: take its snapshots and restore it with its own tools")

// ErrBuiltEtcdRestore means a restore met the external etcd kubeha built
// on the etcd hosts, which RestoreEtcd does not restore.
var ErrBuiltEtcdRestore = errors.New("kubeha etcd restore restores a stacked etcd only; the etcd kubeha built on the etcd hosts is restored by hand, " +
	"each member with etcdutl snapshot restore from a snapshot kubeha etcd snapshot took, as etcd's disaster-recovery guide says")

// Snapshot is a snapshot of the cluster's etcd. Data holds every Secret of
// the cluster: write it 0600, never print it.
type Snapshot struct {
	Data   []byte
	SHA256 string
	// Host is the master, or the etcd host, whose member it was taken
	// from.
	Host string
	// Taken is when it was saved.
	Taken time.Time
}

// EtcdSnapshot takes a snapshot of the cluster's etcd through a healthy
// member: with stacked etcd, the control host's, through its etcd pod;
// with the etcd kubeha built, the first etcd host's whose member is
// healthy, with etcdctl from that member's image. It downloads the
// snapshot and checks the download against the sha256 the host computed.
// The copy on the host is removed whatever happens. An etcd of the
// operator's is refused (ErrExternalEtcd) before anything runs.
func (c *Client) EtcdSnapshot(ctx context.Context) (Snapshot, error) {
	if c.cluster.Spec.Etcd.Topology == inventory.EtcdExternal {
		if !c.cluster.BuildsEtcd() {
			return Snapshot{}, ErrExternalEtcd
		}
		return c.etcdHostSnapshot(ctx)
	}
	m, err := c.Control(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	body := scripts.Render("controlplane/etcd-snapshot", struct{ Pod, Path string }{"etcd-" + m.Name, snapshotPath})
	return c.snapshotOn(ctx, m.Name, Frame(m, Own, "60s", body))
}

// etcdHostSnapshot takes the snapshot on the first etcd host, in
// inventory order, whose member is healthy and gives one; the others are
// tried in turn when it does not, and every host's error is returned when
// none does.
func (c *Client) etcdHostSnapshot(ctx context.Context) (Snapshot, error) {
	script := scripts.Render("controlplane/etcd-host-snapshot", struct {
		Path, Manifest, Tools, Endpoint, CA, Cert, Key string
	}{snapshotPath, etcdHostManifest, etcdHostTools, etcdHostLocal, etcdHostCA, etcdHostCert, etcdHostKey})
	var errs []error
	for _, h := range c.cluster.EtcdHosts() {
		snap, err := c.snapshotOn(ctx, h.Name, script)
		if err == nil {
			return snap, nil
		}
		if ctx.Err() != nil {
			return Snapshot{}, err
		}
		c.log.ForHost(h.Name).Warn("no etcd snapshot through this member: " + err.Error())
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return Snapshot{}, errors.New("no host has role etcd")
	}
	return Snapshot{}, fmt.Errorf("no etcd host gave a snapshot: %w", errors.Join(errs...))
}

// snapshotOn runs script, which saves a snapshot at snapshotPath on host
// and prints its sha256 in section sha256, then downloads the snapshot,
// checks it, and removes the host's copy whatever happened.
func (c *Client) snapshotOn(ctx context.Context, host string, script scripts.Script) (Snapshot, error) {
	path := struct{ Path string }{snapshotPath}
	defer func() {
		// Bounded, and after a cancel too: the file holds every Secret.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := c.quiet(rctx, host, "remove the etcd snapshot", scripts.Render("controlplane/etcd-snapshot-remove", path)); err != nil {
			c.log.ForHost(host).Warn("could not remove " + snapshotPath + ": remove it by hand (it holds every Secret of the cluster): " + err.Error())
		}
	}()
	res, err := c.exec(ctx, host, ssh.Command{Name: "save an etcd snapshot", Script: script.String()}, false)
	if err != nil {
		return Snapshot{}, err
	}
	taken := time.Now().UTC()
	want := strings.TrimSpace(scripts.Sections(res.Stdout)["sha256"])
	data, err := c.hosts.Download(ctx, host, snapshotPath)
	if err != nil {
		return Snapshot{}, err
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if got != want {
		return Snapshot{}, fmt.Errorf("%s: the downloaded snapshot's sha256 is %s, the host's %q: take it again", host, got, want)
	}
	c.log.ForHost(host).Info(fmt.Sprintf("etcd snapshot saved through %s's member: %d bytes, sha256 %s", host, len(data), got))
	return Snapshot{Data: data, SHA256: got, Host: host, Taken: taken}, nil
}

// UpgradeSnapshotPath is where an upgrade to version keeps the snapshot it
// takes before it changes anything.
func (c *Client) UpgradeSnapshotPath(version string) string {
	return filepath.Join(c.stateDir, "etcd-before-"+version+".db")
}

package controlplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/state"
)

// The files of a restore on a master. The snapshot is uploaded into the
// etcd data directory (root's only, the filesystem etcdutl restores to);
// the paused manifests wait outside the manifests directory.
const (
	restoreSnapshot = "kubeha-restore.db"
	restorePaused   = "/etc/kubernetes/kubeha-restore-paused"
	restoreMarkDir  = "/var/lib/kubeha/etcd-restore"
	// restoreTools is where the etcd image is mounted for its etcdutl
	// and etcdctl.
	restoreTools = "/run/kubeha-etcd-tools"
	restoreFile  = "etcd-restore.json"
	// restoreBump is how far a restore moves etcd's revision past the
	// snapshot's: past every revision a client can have seen since (the
	// figure Kubernetes' own restore guide uses), so that no watch
	// resumes from a revision the restored store reuses.
	restoreBump = 1_000_000_000
)

// RestoreMember is one master's etcd member as a restore recreates it.
type RestoreMember struct {
	Host    string `json:"host"`
	Name    string `json:"name"`
	PeerURL string `json:"peerURL"`
	DataDir string `json:"dataDir"`
	Image   string `json:"image"`
}

// restore is one run of RestoreEtcd, kept in the state directory until it
// finishes.
type restore struct {
	SHA256  string          `json:"sha256"`
	Token   string          `json:"token"`
	Started time.Time       `json:"started"`
	Members []RestoreMember `json:"members"`
}

// ErrRestoreUnfinished means a restore of another snapshot was begun and
// has not finished: the control plane is stopped until one finishes.
var ErrRestoreUnfinished = errors.New("a restore of another snapshot has not finished")

// RestoreEtcd recovers a stacked etcd that lost its quorum (or its data)
// from snapshot: on every master of the inventory, all at once, the
// control plane is stopped (the apiserver first), the member restored from
// the snapshot into a new cluster of the inventory's masters with a new
// cluster token, etcd started and found healthy, then the apiserver,
// controller-manager and scheduler. Workers are not touched: their
// kubelets reconnect. Each master's old member directory is kept beside
// the restored one.
//
// Every master must answer and have the etcd image and containerd's ctr
// before anything stops; the snapshot is checked by etcdutl on the first
// master first. A restore is kept in the state directory until it
// finishes, so a run cut short anywhere is finished by the next run with
// the same snapshot; a run with another snapshot is refused until then.
// An external etcd is refused before anything runs: ErrBuiltEtcdRestore
// for the one kubeha built, ErrExternalEtcd for the operator's.
func (c *Client) RestoreEtcd(ctx context.Context, snapshot []byte) error {
	switch {
	case c.cluster.BuildsEtcd():
		return ErrBuiltEtcdRestore
	case c.cluster.Spec.Etcd.Topology == inventory.EtcdExternal:
		return ErrExternalEtcd
	}
	sum := sha256.Sum256(snapshot)
	r := restore{SHA256: hex.EncodeToString(sum[:])}
	path := filepath.Join(c.stateDir, restoreFile)
	if b, err := os.ReadFile(path); err == nil {
		var was restore
		if err := json.Unmarshal(b, &was); err != nil {
			return fmt.Errorf("%s: %w: remove it to start a new restore", path, err)
		}
		if was.SHA256 != r.SHA256 {
			return fmt.Errorf("%w: the restore of the snapshot with sha256 %s, begun at %s, is recorded in %s: rerun with that snapshot to finish it, or remove the file to start over", ErrRestoreUnfinished, was.SHA256, was.Started.Format(time.RFC3339), path)
		}
		r = was
		c.log.Info("finishing the restore begun at " + r.Started.Format(time.RFC3339))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var states []memberState
	if r.Token == "" {
		var err error
		if states, err = c.memberStates(ctx, c.cluster.Masters()); err != nil {
			return fmt.Errorf("every master must answer before a restore stops anything (take a master that is gone for good out of the inventory: the restored etcd has one member fewer): %w", err)
		}
		token := make([]byte, 6)
		if _, err := rand.Read(token); err != nil {
			return err
		}
		r.Token = "kubeha-" + hex.EncodeToString(token)
		r.Started = c.clock().UTC().Truncate(time.Second)
		for _, s := range states {
			r.Members = append(r.Members, s.member)
		}
		if err := c.uploadSnapshot(ctx, r, states, snapshot); err != nil {
			return err
		}
		if err := c.checkSnapshot(ctx, r.Members[0]); err != nil {
			return err
		}
		b, _ := json.Marshal(r)
		if err := state.WriteFileAtomic(path, b, 0o600); err != nil {
			return err
		}
	} else {
		hosts, err := c.restoreHosts(r)
		if err != nil {
			return err
		}
		if states, err = c.memberStates(ctx, hosts); err != nil {
			return err
		}
		if err := c.uploadSnapshot(ctx, r, states, snapshot); err != nil {
			return err
		}
	}
	if err := c.restoreMembersFrom(ctx, r); err != nil {
		return err
	}
	return os.Remove(path)
}

// memberStates asks each of masters, at once, who its etcd member is and
// which snapshot it has; all must answer.
func (c *Client) memberStates(ctx context.Context, masters []inventory.Host) ([]memberState, error) {
	out := make([]memberState, len(masters))
	err := c.onMasters(ctx, masters, func(m inventory.Host, i int) error {
		var err error
		out[i], err = c.restoreMember(ctx, m)
		return err
	})
	return out, err
}

// memberState is what etcd-restore-member says of a master.
type memberState struct {
	member RestoreMember
	// snapshot is the sha256 of the snapshot already uploaded there.
	snapshot string
}

func (c *Client) restoreMember(ctx context.Context, m inventory.Host) (memberState, error) {
	res, err := c.quiet(ctx, m.Name, "find the etcd member", scripts.Render("controlplane/etcd-restore-member", struct{ Paused, Snapshot string }{restorePaused, restoreSnapshot}))
	if err != nil {
		return memberState{}, fmt.Errorf("%s: %w", m.Name, err)
	}
	s := scripts.Sections(res.Stdout)
	get := func(k string) string { return strings.TrimSpace(s[k]) }
	return memberState{
		member:   RestoreMember{Host: m.Name, Name: get("name"), PeerURL: get("peer"), DataDir: get("datadir"), Image: get("image")},
		snapshot: get("snapshot"),
	}, nil
}

// uploadSnapshot places the snapshot on every master of r whose state (in
// r's order) says it does not have it already (0600, whole or not at all).
func (c *Client) uploadSnapshot(ctx context.Context, r restore, states []memberState, snapshot []byte) error {
	return c.onMembers(ctx, r, func(m inventory.Host, i int) error {
		if states[i].snapshot == r.SHA256 {
			return nil
		}
		err := c.hosts.Upload(ctx, m.Name, ssh.File{Path: r.Members[i].DataDir + "/" + restoreSnapshot, Content: bytes.NewReader(snapshot),
			Size: int64(len(snapshot)), Mode: 0o600, Secret: true})
		if err != nil {
			return fmt.Errorf("%s: upload the snapshot: %w", m.Name, err)
		}
		c.log.ForHost(m.Name).Info(fmt.Sprintf("snapshot uploaded (%d bytes)", len(snapshot)))
		return nil
	})
}

// checkSnapshot has etcdutl on rm's master read the snapshot (its
// integrity hash, its revision and key count), before anything stops.
func (c *Client) checkSnapshot(ctx context.Context, rm RestoreMember) error {
	body := scripts.Render("controlplane/etcd-restore-check", struct{ DataDir, Snapshot, Image, Tools string }{rm.DataDir, restoreSnapshot, rm.Image, restoreTools})
	res, err := c.quiet(ctx, rm.Host, "check the snapshot", body)
	if err != nil {
		return fmt.Errorf("%s: etcdutl could not read the snapshot: %w", rm.Host, err)
	}
	c.log.ForHost(rm.Host).Info("snapshot read by etcdutl (hash, revision, keys, size, version): " + strings.TrimSpace(res.Stdout))
	return nil
}

// restoreMembersFrom runs the restore r on every master: stop, restore,
// etcd back, the rest of the control plane back.
func (c *Client) restoreMembersFrom(ctx context.Context, r restore) error {
	var cluster []string
	for _, rm := range r.Members {
		cluster = append(cluster, rm.Name+"="+rm.PeerURL)
	}
	marker := restoreMarkDir + "/" + r.Token + ".restored"
	// step runs on every master at once the script body renders for its
	// member, its output streamed; an error names the master and what.
	step := func(what string, body func(RestoreMember) scripts.Script) error {
		return c.onMembers(ctx, r, func(m inventory.Host, i int) error {
			if _, err := c.exec(ctx, m.Name, ssh.Command{Name: what, Script: body(r.Members[i]).String()}, true); err != nil {
				return fmt.Errorf("%s: %s: %w", m.Name, what, err)
			}
			return nil
		})
	}
	if err := step("stop the control plane for the restore", func(RestoreMember) scripts.Script {
		return scripts.Render("controlplane/etcd-restore-stop", struct {
			Paused, Marker string
			APIServerPort  int
		}{restorePaused, marker, inventory.APIServerPort})
	}); err != nil {
		return err
	}
	if err := step("restore the etcd member", func(rm RestoreMember) scripts.Script {
		return scripts.Render("controlplane/etcd-restore-data", struct {
			DataDir, Token, Marker, Snapshot, Image, Tools, Name, Cluster, Peer string
			BumpRevision                                                        int
		}{rm.DataDir, r.Token, marker, restoreSnapshot, rm.Image, restoreTools, rm.Name, strings.Join(cluster, ","), rm.PeerURL, restoreBump})
	}); err != nil {
		return err
	}
	start := func(component string, secs int) error {
		return step("start "+component+" after the restore", func(rm RestoreMember) scripts.Script {
			return scripts.Render("controlplane/etcd-restore-start", struct {
				Paused, Component, Image, Tools string
				Secs                            int
			}{restorePaused, component, rm.Image, restoreTools, secs})
		})
	}
	// Up to the kubelet's longest crash-loop back-off (5 minutes) and
	// then some: a member that crashed before the restore may be held
	// back that long.
	if err := start("etcd", 360); err != nil {
		return err
	}
	if err := start("control-plane", 0); err != nil {
		return err
	}
	if err := c.onMembers(ctx, r, func(m inventory.Host, _ int) error {
		if err := c.WaitReady(ctx, m, 300); err != nil {
			return fmt.Errorf("%s: the apiserver after the restore: %w", m.Name, err)
		}
		return nil
	}); err != nil {
		return err
	}
	// The load balancers' health checks failed while no apiserver ran:
	// keepalived may have let the VIP go. The first load balancer whose
	// check rises takes it and keeps it (nopreempt,
	// lb/templates/keepalived.conf.tmpl): once the endpoint answers, no
	// later move resets the connections clients make through it.
	if err := c.WaitEndpoint(ctx, r.Members[0].Host, 120); err != nil {
		return fmt.Errorf("%s: after the restore: %w", r.Members[0].Host, err)
	}
	return c.onMembers(ctx, r, func(m inventory.Host, i int) error {
		rm := r.Members[i]
		cleanup := scripts.Render("controlplane/etcd-restore-cleanup", struct{ DataDir, Snapshot, Marker string }{rm.DataDir, restoreSnapshot, marker})
		if _, err := c.quiet(ctx, m.Name, "remove the restore's snapshot", cleanup); err != nil {
			return fmt.Errorf("%s: remove %s/%s (it holds every Secret of the cluster): %w", m.Name, rm.DataDir, restoreSnapshot, err)
		}
		return nil
	})
}

// restoreHosts are the masters of r's members, in r's order.
func (c *Client) restoreHosts(r restore) ([]inventory.Host, error) {
	hosts := make([]inventory.Host, len(r.Members))
	for i, rm := range r.Members {
		h, ok := c.cluster.Host(rm.Host)
		if !ok {
			// The restore was begun with this master: the inventory
			// must keep it until the restore finishes.
			return nil, fmt.Errorf("%s: a master of the unfinished restore begun at %s is no longer in the inventory: put it back until the restore finishes", rm.Host, r.Started.Format(time.RFC3339))
		}
		hosts[i] = h
	}
	return hosts, nil
}

// onMembers runs f for the master of each member of r (i its index in
// r.Members) at once, and joins their errors.
func (c *Client) onMembers(ctx context.Context, r restore, f func(m inventory.Host, i int) error) error {
	hosts, err := c.restoreHosts(r)
	if err != nil {
		return err
	}
	return c.onMasters(ctx, hosts, f)
}

// onMasters runs f for each of masters at once and joins their errors, in
// the order of masters.
func (c *Client) onMasters(ctx context.Context, masters []inventory.Host, f func(inventory.Host, int) error) error {
	errs := make([]error, len(masters))
	var wg sync.WaitGroup
	for i, m := range masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(m, i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

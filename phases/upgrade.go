package phases

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/state"
)

// UpgradeCluster moves a running cluster to spec.kubernetesVersion as
// kubeadm's upgrade guide does: one minor at a time, an etcd snapshot
// first, then the first master (kubeadm upgrade apply), the other masters
// one at a time and the workers a few at a time (kubeadm upgrade node),
// each node drained, upgraded, its kubelet and kubectl replaced, Ready at
// the new version and given back before the next. The binaries come from
// the bundle: the artifacts phase stages them beside a node at another
// version instead of installing them.
//
// The load balancers keep serving: each apiserver stops behind a failing
// /readyz (kubeadm.ShutdownDelay) while the health checks take it out, and
// comes back only when ready. Every decision is read from the cluster and
// the hosts, so a rerun after an interruption anywhere upgrades no node
// twice and gives back every node it took out.
type UpgradeCluster struct{}

var _ Phase = (*UpgradeCluster)(nil)

func (UpgradeCluster) ID() string { return "upgrade" }
func (UpgradeCluster) Title() string {
	return "Upgrade the cluster to the inventory's Kubernetes version"
}

// Inputs: the version and the nodes; nothing else changes what it does.
func (UpgradeCluster) Inputs(c *inventory.Cluster) any {
	return struct {
		Version string
		Nodes   []string
	}{c.Spec.KubernetesVersion, nodeNames(c)}
}

// drainSeconds bounds a node's evictions: a PodDisruptionBudget that never
// allows one fails the upgrade of that node, naming it, rather than
// hanging.
const drainSeconds = 300

// upgradeStage is where the artifacts phase stages the binaries of version
// on a node that runs another one.
func upgradeStage(version string) string { return "/var/lib/kubeha/upgrade/" + version }

// nodeUpgrade is what is left to do on one node.
type nodeUpgrade struct {
	Host   string
	Master bool
	// Mode is the kubeadm step: "apply" (the first master), "node", or ""
	// when the control plane here is already at the version.
	Mode   string
	Reason string
}

// planUpgrade decides, from the cluster's state and each master's
// apiserver image tag, what is left of an upgrade to c's version, in the
// order it must happen: the "apply" master first, the other masters, then
// the workers. Nodes of the inventory the cluster does not have yet are
// not upgraded (they join at the new version). It refuses what kubeadm
// refuses: a downgrade, or more than one minor at a time.
func planUpgrade(c *inventory.Cluster, s controlplane.ClusterState, apiserverTags map[string]string) ([]nodeUpgrade, error) {
	target := c.Spec.KubernetesVersion
	tv, err := inventory.ParseVersion(target)
	if err != nil {
		return nil, err
	}
	cv, err := inventory.ParseVersion(s.Version)
	if err != nil {
		return nil, fmt.Errorf("kubeadm's ClusterConfiguration: %w", err)
	}
	switch {
	case tv.Compare(cv) < 0:
		return nil, fmt.Errorf("the cluster runs %s and the inventory wants %s: kubeadm does not downgrade; set spec.kubernetesVersion: %s", cv, tv, cv)
	case tv.Major != cv.Major || tv.Minor > cv.Minor+1:
		return nil, fmt.Errorf("the cluster runs %s and the inventory wants %s: kubeadm upgrades one minor at a time; set spec.kubernetesVersion to the newest v%d.%d patch, apply, then %s",
			cv, tv, cv.Major, cv.Minor+1, tv)
	}
	for _, n := range s.Nodes {
		if kv, err := inventory.ParseVersion(n.KubeletVersion); err == nil && kv.Compare(tv) > 0 {
			return nil, fmt.Errorf("node %s runs kubelet %s, newer than the inventory's %s: set spec.kubernetesVersion: %s or newer", n.Name, kv, tv, kv)
		}
	}
	proxyTag := ""
	if i := strings.LastIndex(s.ProxyImage, ":"); i >= 0 {
		proxyTag = s.ProxyImage[i+1:]
	}
	// kubeadm upgrade apply moves the stored version; the addons
	// (kube-proxy, CoreDNS) follow with the last master's kubeadm upgrade
	// node, once every control plane is at the version.
	applyNeeded := s.Version != target
	addonsBehind := s.ProxyImage != "" && proxyTag != target

	present := clusterMasters(c, s)
	var masters []nodeUpgrade
	applyAt := ""
	if applyNeeded && len(present) > 0 {
		// A master whose control plane an interrupted apply already
		// upgraded finishes it; otherwise the first master starts it.
		applyAt = present[0].Name
		if i := slices.IndexFunc(present, func(m inventory.Host) bool { return apiserverTags[m.Name] == target }); i >= 0 {
			applyAt = present[i].Name
		}
	}
	for _, m := range present {
		n, _ := s.Node(m.Name)
		u := nodeUpgrade{Host: m.Name, Master: true}
		var why []string
		switch {
		case apiserverTags[m.Name] != target:
			why = append(why, fmt.Sprintf("control plane %s → %s", orUnknown(apiserverTags[m.Name]), target))
			u.Mode = "node"
		case n.Upgrading != "":
			// Taken out and cut short after its control plane: kubeadm's
			// remaining steps are finished (at the same version kubeadm
			// leaves equal manifests alone).
			why = append(why, "finish kubeadm's upgrade of this master")
			u.Mode = "node"
		}
		if m.Name == applyAt {
			u.Mode = "apply"
			if len(why) == 0 {
				why = append(why, "finish kubeadm upgrade apply "+target)
			}
		}
		if n.KubeletVersion != target {
			why = append(why, fmt.Sprintf("kubelet %s → %s", n.KubeletVersion, target))
		}
		if u.Mode == "apply" && c.Spec.Etcd.Topology == inventory.EtcdExternal {
			why = append(why, externalEtcdKeeps(c))
		}
		if len(why) == 0 {
			continue
		}
		u.Reason = strings.Join(why, ", ")
		if u.Mode == "apply" {
			masters = append([]nodeUpgrade{u}, masters...)
		} else {
			masters = append(masters, u)
		}
	}
	if !applyNeeded && addonsBehind {
		// Every control plane is at the version (a run cut short after
		// the last master's) or will be: the last master's kubeadm
		// upgrade node upgrades the addons.
		pending := slices.ContainsFunc(masters, func(u nodeUpgrade) bool { return u.Mode != "" })
		if !pending && len(present) > 0 {
			last := present[len(present)-1].Name
			i := slices.IndexFunc(masters, func(u nodeUpgrade) bool { return u.Host == last })
			if i < 0 {
				masters = append(masters, nodeUpgrade{Host: last, Master: true})
				i = len(masters) - 1
			}
			masters[i].Mode = "node"
			masters[i].Reason = strings.TrimPrefix(masters[i].Reason+", kube-proxy and CoreDNS "+proxyTag+" → "+target, ", ")
		}
	}
	var workers []nodeUpgrade
	for _, w := range c.Workers() {
		n, ok := s.Node(w.Name)
		if !ok {
			continue
		}
		switch {
		case n.KubeletVersion != target:
			workers = append(workers, nodeUpgrade{Host: w.Name, Mode: "node", Reason: fmt.Sprintf("kubelet %s → %s", n.KubeletVersion, target)})
		case n.Upgrading != "":
			workers = append(workers, nodeUpgrade{Host: w.Name, Reason: "give back the node kubeha took out"})
		}
	}
	return append(masters, workers...), nil
}

// externalEtcdKeeps says, on the "apply" master's line of an upgrade's
// plan, that an external etcd keeps its version: kubeadm upgrades only
// the stacked etcd it runs, and kubeha upgrades no etcd host.
func externalEtcdKeeps(c *inventory.Cluster) string {
	if c.BuildsEtcd() {
		var names []string
		for _, h := range c.EtcdHosts() {
			names = append(names, h.Name)
		}
		return "the etcd members on " + strings.Join(names, ", ") + " keep their version (kubeadm upgrades no external etcd)"
	}
	return "your etcd keeps its version (kubeadm upgrades no external etcd)"
}

// clusterMasters are the inventory's masters that the cluster has as
// nodes, in inventory order.
func clusterMasters(c *inventory.Cluster, s controlplane.ClusterState) []inventory.Host {
	var out []inventory.Host
	for _, m := range c.Masters() {
		if _, ok := s.Node(m.Name); ok {
			out = append(out, m)
		}
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// upgradeState reads the cluster's state through the control host and
// each finished master's apiserver image tag.
func upgradeState(ctx context.Context, env *Env) (controlplane.ClusterState, map[string]string, error) {
	control, err := env.ControlPlane.Control(ctx)
	if err != nil {
		return controlplane.ClusterState{}, nil, err
	}
	s, err := env.ControlPlane.State(ctx, control)
	if err != nil {
		return s, nil, &HostError{Host: control.Name, Err: err}
	}
	var masters []string
	for _, m := range clusterMasters(env.Cluster, s) {
		masters = append(masters, m.Name)
	}
	var mu sync.Mutex
	tags := map[string]string{}
	err = fanOut(ctx, masters, max(env.Concurrency, 1), func(ctx context.Context, host string) error {
		res, err := env.quiet(ctx, host, "read the control plane's version", scripts.Render("phases/upgrade-probe", nil))
		if err != nil {
			return err
		}
		mu.Lock()
		tags[host] = strings.TrimSpace(res.Stdout)
		mu.Unlock()
		return nil
	})
	return s, tags, err
}

func (UpgradeCluster) Probe(ctx context.Context, env *Env) (Work, error) {
	w := Work{Reasons: map[string]string{}}
	if _, done, err := initialised(ctx, env, false); err != nil || !done {
		// No cluster yet: kubeadm init makes it at the inventory's version.
		return w, err
	}
	// The facts already say each node's kubelet: when every joined node
	// runs the inventory's version, nothing is left but what only a run
	// cut short leaves (a node not given back), and such a run is not
	// recorded as done, so Run, which asks the cluster, follows anyway.
	// This keeps the cluster out of a rerun that changes nothing.
	current := true
	var joined []string
	for _, h := range nodeNames(env.Cluster) {
		f, err := env.Facts.Get(ctx, env, h)
		if err != nil {
			return w, &HostError{Host: h, Err: err}
		}
		if f.NodeDone {
			joined = append(joined, h)
			current = current && f.Kubelet == env.Cluster.Spec.KubernetesVersion
		}
	}
	if current {
		w.Targets = joined
		return w, nil
	}
	s, tags, err := upgradeState(ctx, env)
	if err != nil {
		return w, err
	}
	for _, h := range nodeNames(env.Cluster) {
		if _, ok := s.Node(h); ok {
			w.Targets = append(w.Targets, h)
		}
	}
	plan, err := planUpgrade(env.Cluster, s, tags)
	if err != nil {
		return w, err
	}
	for _, u := range plan {
		w.Pending = append(w.Pending, u.Host)
		w.Reasons[u.Host] = u.Reason
	}
	return w, nil
}

func (UpgradeCluster) Run(ctx context.Context, env *Env, _ Work) error {
	// The plan is made again from the cluster, whatever the journal or
	// the probe said: only the cluster knows which nodes are done.
	c, cp := env.Cluster, env.ControlPlane
	target := c.Spec.KubernetesVersion
	s, tags, err := upgradeState(ctx, env)
	if err != nil {
		return err
	}
	plan, err := planUpgrade(c, s, tags)
	if err != nil {
		return err
	}
	// A master drained by a run cut short before it was handed back.
	for _, m := range c.Masters() {
		cp.SetBackendOrWarn(ctx, m.Name, controlplane.BackendReady)
	}
	if len(plan) == 0 {
		return nil
	}
	control, err := cp.Control(ctx)
	if err != nil {
		return err
	}
	if err := upgradePreflight(ctx, env, s, control); err != nil {
		return err
	}
	if s.Version != target {
		if err := snapshotBeforeUpgrade(ctx, env, target); err != nil {
			return err
		}
	}
	var workers []string
	work := map[string]nodeUpgrade{}
	for _, u := range plan {
		work[u.Host] = u
		if !u.Master {
			workers = append(workers, u.Host)
			continue
		}
		// Masters one at a time: etcd keeps its quorum and the load
		// balancers always have the others.
		if err := ForEachHost(ctx, env, []string{u.Host}, 1, func(ctx context.Context, host string) error {
			return upgradeNode(ctx, env, u)
		}); err != nil {
			return err
		}
	}
	// Workers a few at a time: a quarter of them at most, so their pods
	// have somewhere to go.
	if err := ForEachHost(ctx, env, workers, max(1, len(c.Workers())/4), func(ctx context.Context, host string) error {
		return upgradeNode(ctx, env, work[host])
	}); err != nil {
		return err
	}
	// kubeadm upgrade apply renewed the certificates of admin.conf.
	return cp.SaveAdminKubeconfig(ctx, control)
}

// upgradePreflight refuses to start on a cluster that cannot lose a node
// for a while: every node Ready (but those kubeha already took out) and
// etcd healthy.
func upgradePreflight(ctx context.Context, env *Env, s controlplane.ClusterState, control inventory.Host) error {
	var notReady []string
	for _, n := range s.Nodes {
		if !n.Ready && n.Upgrading == "" {
			notReady = append(notReady, n.Name)
		}
	}
	if len(notReady) > 0 {
		return fmt.Errorf("node %s not Ready: an upgrade takes nodes out one at a time and needs the others to carry their load; make them Ready (or remove them from the cluster) and rerun", strings.Join(notReady, ", "))
	}
	if err := env.ControlPlane.WaitEtcd(ctx, control, 30); err != nil {
		return &HostError{Host: control.Name, Err: fmt.Errorf("etcd is not healthy, so the upgrade does not start: %w", err)}
	}
	return nil
}

// snapshotBeforeUpgrade saves an etcd snapshot in the state directory
// before the first change of an upgrade to target, once: a rerun keeps
// the first one (taken before anything changed).
func snapshotBeforeUpgrade(ctx context.Context, env *Env, target string) error {
	path := env.ControlPlane.UpgradeSnapshotPath(target)
	if _, err := os.Stat(path); err == nil {
		env.Log.Info("etcd snapshot from before the upgrade: " + path + " (kept from an earlier run)")
		return nil
	}
	snap, err := env.ControlPlane.EtcdSnapshot(ctx)
	if errors.Is(err, controlplane.ErrExternalEtcd) {
		env.Log.Warn("etcd is your own: take its snapshot with its own tools before an upgrade")
		return nil
	}
	if err != nil {
		return &HostError{Host: snap.Host, Err: fmt.Errorf("etcd snapshot before the upgrade: %w", err)}
	}
	if err := state.WriteFileAtomic(path, snap.Data, 0o600); err != nil {
		return err
	}
	env.Log.Info(fmt.Sprintf("etcd snapshot from before the upgrade: %s (sha256 %s)", path, snap.SHA256))
	return nil
}

// upgradeScriptData is what phases/upgrade-plan and phases/upgrade-node
// take.
type upgradeScriptData struct {
	Version, Stage, Mode string
	Ignore               []string
	Master               bool
	APIServerPort        int
}

// via is the master whose kubectl drains and watches h: the control host,
// or for a master being upgraded the first other finished master, whose
// kubectl and admin.conf kubeadm is not replacing.
func via(ctx context.Context, env *Env, h inventory.Host) (inventory.Host, error) {
	control, err := env.ControlPlane.Control(ctx)
	if err != nil || control.Name != h.Name {
		return control, err
	}
	for _, m := range env.Cluster.Masters() {
		if m.Name == h.Name {
			continue
		}
		if f, err := env.Facts.Get(ctx, env, m.Name); err == nil && f.ControlPlaneDone {
			return m, nil
		}
	}
	return control, nil
}

// upgradeNode upgrades one node: kubeadm's checks first on the "apply"
// master, then drain, the node's steps, Ready at the version (a master's
// own apiserver and etcd too, then with kube-vip its kube-vip restarted
// where kubeadm ran), uncordon.
func upgradeNode(ctx context.Context, env *Env, u nodeUpgrade) error {
	c, cp := env.Cluster, env.ControlPlane
	target := c.Spec.KubernetesVersion
	h, _ := c.Host(u.Host)
	log := env.Log.ForHost(u.Host)
	start := time.Now()
	v, err := via(ctx, env, h)
	if err != nil {
		return err
	}
	data := upgradeScriptData{target, upgradeStage(target), u.Mode, c.Spec.Kubeadm.IgnorePreflightErrors, u.Master, inventory.APIServerPort}
	log.Info(u.Reason)
	if u.Mode == "apply" {
		if _, err := env.run(ctx, u.Host, "kubeadm upgrade plan", scripts.Render("phases/upgrade-plan", data)); err != nil {
			return fmt.Errorf("kubeadm upgrade plan refuses %s: %w", target, err)
		}
	}
	if err := cp.Drain(ctx, v, u.Host, target, drainSeconds); err != nil {
		return fmt.Errorf("drain (through %s): %w", v.Name, err)
	}
	if u.Master {
		// Taken out of the load balancers before its apiserver restarts,
		// and handed back on every way out: with its checks on again,
		// haproxy takes out an apiserver the upgrade left broken. A run
		// killed in between leaves the node annotated, and the next run
		// hands every master back before it goes on.
		cp.SetBackendOrWarn(ctx, u.Host, controlplane.BackendDrain)
		defer cp.SetBackendOrWarn(context.WithoutCancel(ctx), u.Host, controlplane.BackendReady)
	}
	// Last before kubeadm, after a drain that may take minutes: the
	// kubelet's garbage collector may remove an image again two minutes
	// after it arrived.
	if err := restoreArtifacts(ctx, env, u.Host); err != nil {
		return fmt.Errorf("restore the bundle's artifacts before the upgrade: %w", err)
	}
	if _, err := env.run(ctx, u.Host, "upgrade the node", scripts.Render("phases/upgrade-node", data)); err != nil {
		return err
	}
	if _, err := env.Facts.Refresh(ctx, env, u.Host); err != nil {
		return err
	}
	if u.Master {
		if err := cp.WaitReady(ctx, h, 300); err != nil {
			return err
		}
		if err := cp.WaitEtcd(ctx, h, 180); err != nil {
			return err
		}
		if err := waitEtcdMembersHealthy(ctx, env, h, 180); err != nil {
			return err
		}
		if u.Mode != "" {
			// kubeadm upgrade renewed admin.conf, which kube-vip reads
			// only when it starts. Its restart moves no VIP here, so the
			// masters keep kubeadm's order: kube-vip renews its Lease
			// through this master's apiserver, which kubeadm has just
			// restarted, so a holder here has let the VIP go to another
			// master already. (With one master there is no other: its
			// VIP is gone a few seconds more.)
			if err := cp.RestartKubeVIP(ctx, h, "upgrade-"+target); err != nil {
				return err
			}
		}
	}
	if err := cp.WaitNode(ctx, v, u.Host, target, 300); err != nil {
		return fmt.Errorf("after the upgrade (through %s): %w", v.Name, err)
	}
	if err := cp.Uncordon(ctx, v, u.Host); err != nil {
		return fmt.Errorf("uncordon (through %s): %w", v.Name, err)
	}
	log.Info(fmt.Sprintf("upgraded to %s in %s", target, time.Since(start).Round(100*time.Millisecond)))
	return nil
}

// waitEtcdMembersHealthy waits up to secs until every member of the
// stacked etcd, as master h's etcd pod sees them, is healthy. The next
// master's upgrade restarts its own member, and with another one not back
// yet etcd loses its quorum. h's own apiserver finding etcd healthy
// (WaitEtcd) says nothing of the other members. External etcd is the
// operator's to watch.
func waitEtcdMembersHealthy(ctx context.Context, env *Env, h inventory.Host, secs int) error {
	if env.Cluster.Spec.Etcd.Topology == inventory.EtcdExternal {
		return nil
	}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for {
		ms, err := env.ControlPlane.EtcdMembers(ctx, h)
		var bad []string
		if err == nil {
			for _, m := range ms {
				switch {
				case m.Healthy:
				case m.Error != "":
					bad = append(bad, m.Name+" ("+m.Error+")")
				default:
					bad = append(bad, m.Name+" not healthy")
				}
			}
			if len(ms) > 0 && len(bad) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			why := strings.Join(bad, ", ")
			if err != nil {
				why = err.Error()
			}
			return &HostError{Host: h.Name, Err: fmt.Errorf("etcd is not whole %ds after this master's upgrade (%s): the next master's would put its quorum at risk; see to the members (kubeha status), then rerun", secs, why)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second):
		}
	}
}

package phases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// RemoveNodes takes out of the cluster the nodes the inventory no longer
// lists, when the operator asks for it (apply --remove-nodes): each node
// drained, kubeha's load balancer stopped on it (so a master taken out
// does not keep claiming the VIP), its etcd member removed through a
// healthy master, kubeadm reset on it, and its Node deleted. A host that
// does not answer (powered off, gone) is taken out of the cluster without
// the reset. It runs before the load-balancer phase rewrites the others'
// backends and peers, and before any join: a dead master's member is
// removed before its replacement joins, so etcd never counts a member it
// cannot reach on top of a new one.
//
// Without the flag it only says which nodes it would take out.
type RemoveNodes struct{}

var _ Phase = (*RemoveNodes)(nil)

func (RemoveNodes) ID() string { return "remove-nodes" }
func (RemoveNodes) Title() string {
	return "Take out of the cluster the nodes the inventory no longer lists"
}

// removeReachSeconds bounds the wait for a removed host's SSH: a host that
// is powered off must not hold up the others' removal for long.
const removeReachSeconds = 20

// leaving is a node or host to take out: as the journal remembers it
// (Known) or only as the cluster has it.
type leaving struct {
	Host      inventory.Host
	Known     bool // kubeha can reach it: an earlier run was given it
	InCluster bool
	Ready     bool
}

// leavingHosts are the cluster's nodes that the inventory does not list,
// and the hosts earlier runs were given that are no longer in it.
func leavingHosts(env *Env, s controlplane.ClusterState) []leaving {
	var out []leaving
	listed := func(name string) bool { _, ok := env.Cluster.Host(name); return ok }
	former := map[string]inventory.Host{}
	for _, h := range env.Former {
		former[h.Name] = h
	}
	for _, n := range s.Nodes {
		if listed(n.Name) {
			continue
		}
		h, known := former[n.Name]
		if !known {
			role := inventory.RoleWorker
			if n.ControlPlane {
				role = inventory.RoleMaster
			}
			h = inventory.Host{Name: n.Name, Address: n.InternalIP, InternalAddress: n.InternalIP, Role: role}
		}
		if h.InternalAddress == "" {
			h.InternalAddress = n.InternalIP
		}
		out = append(out, leaving{Host: h, Known: known, InCluster: true, Ready: n.Ready})
	}
	// Dedicated load-balancer hosts are never nodes: only the journal
	// knows them. Nor does the cluster know a host whose node was deleted
	// by hand, or that never finished joining: it is reset and forgotten
	// too, or every later apply would ask the cluster about it again.
	inCluster := func(name string) bool {
		return slices.ContainsFunc(s.Nodes, func(n controlplane.NodeState) bool { return n.Name == name })
	}
	for _, h := range env.Former {
		// An etcd host is never taken out: kubeha does not change the
		// membership of the etcd it built, and a kubeadm reset there would
		// stop a member the cluster still counts (formerEtcdHosts).
		if !inCluster(h.Name) && h.Role != inventory.RoleEtcd {
			out = append(out, leaving{Host: h, Known: true})
		}
	}
	return out
}

// warnFormerEtcdHosts says, for each etcd host the inventory no longer
// lists, that kubeha leaves it as it is.
func warnFormerEtcdHosts(env *Env) {
	for _, h := range env.Former {
		if h.Role == inventory.RoleEtcd {
			env.Log.ForHost(h.Name).Warn("an etcd host the inventory no longer lists: kubeha does not change the etcd cluster's members, so it leaves this one running; " +
				"add it back to the inventory, or remove its member with etcdctl member remove and then run kubeadm reset -f there")
		}
	}
}

func (RemoveNodes) Probe(ctx context.Context, env *Env) (Work, error) {
	w := Work{Reasons: map[string]string{}}
	if _, done, err := initialised(ctx, env, false); err != nil || !done {
		return w, err
	}
	if len(env.Former) == 0 {
		// The journal remembers every host an apply was given: when none
		// has left the inventory, the cluster is not asked (a rerun that
		// changes nothing stays fast). A node some other tool added is not
		// kubeha's to find.
		return w, nil
	}
	control, err := env.ControlPlane.Control(ctx)
	if err != nil {
		return w, err
	}
	s, err := env.ControlPlane.State(ctx, control)
	if err != nil {
		return w, &HostError{Host: control.Name, Err: err}
	}
	warnFormerEtcdHosts(env)
	for _, l := range leavingHosts(env, s) {
		w.Targets = append(w.Targets, l.Host.Name)
		w.Pending = append(w.Pending, l.Host.Name)
		w.Reasons[l.Host.Name] = removeReason(l)
	}
	return w, nil
}

func removeReason(l leaving) string {
	var steps []string
	if l.InCluster {
		steps = append(steps, "drain")
	}
	if l.Known && l.Host.Role == inventory.RoleMaster {
		steps = append(steps, "hand its apiserver's clients to the others")
	}
	if l.Known {
		steps = append(steps, "stop kubeha's load balancer there")
	}
	if l.Known && l.Host.Role == inventory.RoleMaster {
		steps = append(steps, "stop its apiserver")
	}
	if l.Host.Role == inventory.RoleMaster {
		steps = append(steps, "remove its etcd member")
	}
	if l.Known && l.Host.Role != inventory.RoleLoadBalancer {
		steps = append(steps, "kubeadm reset")
	}
	if l.InCluster {
		steps = append(steps, "delete the node")
	}
	what := "a node the inventory no longer lists"
	switch {
	case l.Host.Role == inventory.RoleLoadBalancer:
		what = "a load-balancer host the inventory no longer lists"
	case !l.InCluster:
		what = "a host an earlier run was given, no longer in the inventory nor a node of the cluster"
	}
	return what + ": " + strings.Join(steps, ", ")
}

func (RemoveNodes) Run(ctx context.Context, env *Env, w Work) error {
	if len(w.Pending) == 0 {
		return nil
	}
	if !env.RemoveNodes {
		for _, h := range w.Pending {
			env.Log.ForHost(h).Warn(w.Reasons[h] + ": kubeha leaves it; rerun apply with --remove-nodes to take it out, or add it back to the inventory")
		}
		return nil
	}
	control, err := env.ControlPlane.Control(ctx)
	if err != nil {
		return err
	}
	s, err := env.ControlPlane.State(ctx, control)
	if err != nil {
		return &HostError{Host: control.Name, Err: err}
	}
	// One at a time: a master's removal changes etcd's membership, which
	// must settle before the next.
	for _, l := range leavingHosts(env, s) {
		if err := ForEachHost(ctx, env, []string{l.Host.Name}, 1, func(ctx context.Context, _ string) error {
			return removeHost(ctx, env, control, l)
		}); err != nil {
			return err
		}
	}
	return nil
}

// removeHost takes one host out, each step harmless to repeat.
func removeHost(ctx context.Context, env *Env, control inventory.Host, l leaving) error {
	cp, c, h := env.ControlPlane, env.Cluster, l.Host
	log := env.Log.ForHost(h.Name)
	start := time.Now()
	// Asked first: a node that just lost power still counts as Ready for
	// a while (the node controller's grace period), and a drain would wait
	// all its time for pods that will never confirm their end.
	reachable := false
	if l.Known {
		rctx, cancel := context.WithTimeout(ctx, removeReachSeconds*time.Second)
		_, err := env.quiet(rctx, h.Name, "is the host there", scripts.Render("phases/reachable", nil))
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		reachable = err == nil
		if !reachable {
			log.Warn(fmt.Sprintf("does not answer (%v): taken out of the cluster without kubeadm reset; if it comes back, run kubeadm reset -f there before it joins anything", err))
		}
	} else if h.Role != inventory.RoleLoadBalancer {
		log.Warn("kubeha never reached this node (no earlier run was given it): taken out of the cluster without kubeadm reset; run kubeadm reset -f on it")
	}
	if l.InCluster {
		gone := !l.Ready || (l.Known && !reachable)
		secs := drainSeconds
		if gone {
			secs = 30
		}
		if err := cp.DrainForRemoval(ctx, control, h.Name, secs); err != nil {
			if !gone {
				return fmt.Errorf("drain (through %s): %w", control.Name, err)
			}
			log.Warn("the node is gone and its pods did not all leave in 30 s; going on")
		}
	}
	master := h.Role == inventory.RoleMaster
	if reachable && master {
		// The others' haproxy send it no new connection from here on, so
		// that neither the VIP's move nor its apiserver's end below sends
		// a client to it.
		cp.SetBackendOrWarn(ctx, h.Name, controlplane.BackendDrain)
	}
	if reachable {
		// Before etcd and the apiserver go: a master that still ran
		// keepalived would keep claiming the VIP once the others stop
		// listening to it (and a worker's local proxy has no use left).
		if _, err := env.run(ctx, h.Name, "stop the load balancer", lbCleanUpScript(c.Spec.LoadBalancer.VIP)); err != nil {
			return err
		}
	}
	if reachable && master {
		// Gracefully, before its etcd member goes (after that it would
		// answer its clients with errors) and before kubeadm reset
		// (which kills it with their connections).
		if _, err := env.run(ctx, h.Name, "stop the apiserver", stopAPIServerScript()); err != nil {
			return err
		}
	}
	if master && c.Spec.Etcd.Topology != inventory.EtcdExternal {
		if err := cp.RemoveEtcdMember(ctx, h); err != nil {
			return fmt.Errorf("remove its etcd member (through %s): %w", control.Name, err)
		}
	}
	if reachable && h.Role != inventory.RoleLoadBalancer {
		if _, err := env.run(ctx, h.Name, "kubeadm reset", teardownScript(master && c.Spec.Etcd.Topology != inventory.EtcdExternal)); err != nil {
			return err
		}
	}
	// kubeadm reset leaves $HOME/.kube/config: kubeha's copy of admin.conf
	// there is a cluster-admin credential that must not stay on a machine
	// the cluster no longer has. The records say where, option on or off.
	if reachable && master {
		if _, err := env.run(ctx, h.Name, "remove kubeha's copies of admin.conf", userKubeconfigCleanUp()); err != nil {
			return err
		}
	}
	if l.InCluster {
		if err := cp.DeleteNode(ctx, control, h.Name); err != nil {
			return fmt.Errorf("delete the node (through %s): %w", control.Name, err)
		}
	}
	if env.forget != nil {
		if err := env.forget(h.Name); err != nil {
			return errors.Join(errors.New("taken out, but the journal could not forget it"), err)
		}
	}
	log.Info(fmt.Sprintf("taken out of the cluster in %s", time.Since(start).Round(100*time.Millisecond)))
	return nil
}

// stopAPIServerPaused is where a leaving master's apiserver manifest waits
// for its apiserver to stop: outside the manifests directory, and under
// /etc/kubernetes, which kubeadm reset clears of what it knows.
const stopAPIServerPaused = "/etc/kubernetes/kubeha-removal-paused"

func stopAPIServerScript() scripts.Script {
	return scripts.Render("phases/stop-apiserver", struct {
		Paused string
		Port   int
	}{stopAPIServerPaused, inventory.APIServerPort})
}

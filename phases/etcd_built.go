package phases

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/state"
)

// EtcdMaker is implemented by the phases whose run makes etcd members or
// points the control plane at them for good: kubeadm-init (the stacked
// etcd's first member, or the apiservers' --etcd-servers) and
// etcd-cluster (the members on the etcd hosts, each started with all of
// them as its initial cluster). Before such a phase first runs, the
// runner records in the journal the etcd the inventory describes
// (state.EtcdRecord); from then on an inventory that describes another
// etcd is refused before any host is touched (checkEtcdUnchanged).
type EtcdMaker interface {
	// MakesEtcd only marks the phase.
	MakesEtcd()
}

func (InitControlPlane) MakesEtcd() {}
func (BuildEtcdCluster) MakesEtcd() {}

var _ EtcdMaker = InitControlPlane{}
var _ EtcdMaker = BuildEtcdCluster{}

// etcdRecord is the etcd c describes, as the journal records it.
func etcdRecord(c *inventory.Cluster) *state.EtcdRecord {
	e := c.Spec.Etcd
	r := &state.EtcdRecord{Topology: e.Topology}
	switch {
	case e.Topology != inventory.EtcdExternal:
	case c.BuildsEtcd():
		for _, h := range c.EtcdHosts() {
			r.Members = append(r.Members, h.Name)
		}
	default:
		r.Endpoints = slices.Clone(e.External.Endpoints)
	}
	return r
}

// adoptEtcdRecord records c's etcd in j when j has none but says the
// cluster was made (kubeadm-init done): a journal of a kubeha that did not
// keep the record yet. The inventory is taken as the cluster was built.
func adoptEtcdRecord(c *inventory.Cluster, j *state.Journal) bool {
	if j.Etcd != nil {
		return false
	}
	r := j.Phases[InitControlPlane{}.ID()]
	if r == nil || r.Status != state.StatusDone {
		return false
	}
	j.Etcd = etcdRecord(c)
	return true
}

// EtcdChangeError refuses an inventory whose etcd is not the one the
// journal records the cluster was built with (state.EtcdRecord): kubeha
// changes no built etcd's topology, endpoints or members. Phase is the
// phase that would have to; each of Changes names a field or a host and
// the fix. It unwraps to Changes, an inventory problem (exit code 2).
type EtcdChangeError struct {
	Phase   string
	Built   string // the etcd as built, in words
	Changes inventory.Problems
}

func (e *EtcdChangeError) Error() string {
	lines := make([]string, 0, len(e.Changes))
	for _, p := range e.Changes {
		lines = append(lines, p.String())
	}
	return fmt.Sprintf("phase %s refused, no host was touched: the journal says the cluster's etcd was built %s, and kubeha does not change a built etcd:\n  %s",
		e.Phase, e.Built, strings.Join(lines, "\n  "))
}

func (e *EtcdChangeError) Unwrap() error { return e.Changes }

// builtWords describes r for EtcdChangeError.Built.
func builtWords(r *state.EtcdRecord) string {
	switch {
	case r.Topology != inventory.EtcdExternal:
		return "stacked (on the masters, by kubeadm)"
	case len(r.Members) > 0:
		return "by kubeha on the etcd hosts " + strings.Join(r.Members, ", ")
	default:
		return "on your etcd at " + strings.Join(r.Endpoints, ", ")
	}
}

// The ways out of a refused etcd change, shared by its problems.
const (
	etcdResetFix = "run kubeha reset with the inventory as it was built, then kubeha apply with the new one (a new, empty cluster)"
	etcdHandFix  = "kubeha does not change the members of a built etcd: change them with etcdctl by hand and keep the inventory as built, or " + etcdResetFix
)

// checkEtcdUnchanged returns an *EtcdChangeError when the journal records
// the etcd the cluster was built with and c describes another: another
// topology, the operator's endpoints changed, added or removed, or other
// etcd hosts for the etcd kubeha built. It reads only c and j.
func checkEtcdUnchanged(c *inventory.Cluster, j *state.Journal) error {
	if j == nil || j.Etcd == nil {
		return nil
	}
	was, now := j.Etcd, etcdRecord(c)
	refuse := func(phase string, ps ...inventory.Problem) error {
		return &EtcdChangeError{Phase: phase, Built: builtWords(was), Changes: ps}
	}
	if was.Topology != now.Topology {
		fix := "set topology: " + was.Topology + " again"
		if was.Topology == inventory.EtcdExternal {
			fix += " with the endpoints or the etcd hosts it was built with"
		}
		return refuse(InitControlPlane{}.ID(), inventory.Problem{Path: "spec.etcd.topology",
			Message: fmt.Sprintf("%s, but the cluster was built with %s etcd: kubeadm init fixed where the apiservers find etcd", now.Topology, was.Topology),
			Fix:     fix + "; kubeha does not move a built cluster's etcd: to move it, " + etcdResetFix})
	}
	if now.Topology != inventory.EtcdExternal {
		return nil
	}
	const ep = "spec.etcd.external.endpoints"
	switch wasBuilt, nowBuilt := len(was.Members) > 0, c.BuildsEtcd(); {
	case wasBuilt && !nowBuilt:
		return refuse(ConfigureEtcdClient{}.ID(), inventory.Problem{Path: ep,
			Message: "names an etcd of yours, but the cluster's etcd is the one kubeha built on " + strings.Join(was.Members, ", "),
			Fix:     "remove the endpoints and give " + strings.Join(was.Members, ", ") + " role etcd again; to change the etcd, " + etcdResetFix})
	case !wasBuilt && nowBuilt:
		return refuse(ConfigureEtcdClient{}.ID(), inventory.Problem{Path: ep,
			Message: "missing, but the cluster was built with the etcd at " + strings.Join(was.Endpoints, ", "),
			Fix:     "put the endpoints back, with caFile, certFile and keyFile, and give the etcd hosts another role; to change the etcd, " + etcdResetFix})
	case !wasBuilt:
		added, dropped := diffSets(was.Endpoints, now.Endpoints)
		if len(added) == 0 && len(dropped) == 0 {
			return nil
		}
		var what []string
		if len(added) > 0 {
			what = append(what, "adds "+strings.Join(added, ", "))
		}
		if len(dropped) > 0 {
			what = append(what, "drops "+strings.Join(dropped, ", "))
		}
		return refuse(ConfigureEtcdClient{}.ID(), inventory.Problem{Path: ep,
			Message: strings.Join(what, " and ") + ": kubeadm init gave the apiservers the endpoints the cluster was built with, and kubeha does not change them",
			Fix: "put the endpoints back as built (" + strings.Join(was.Endpoints, ", ") + "); for a member you add or remove with etcdctl, " +
				"change --etcd-servers in each master's kube-apiserver manifest and kubeadm's ClusterConfiguration by hand and keep the inventory as built, or " + etcdResetFix})
	}
	added, dropped := diffSets(was.Members, now.Members)
	var ps inventory.Problems
	for _, name := range added {
		ps = append(ps, inventory.Problem{Path: rolePath(c, name),
			Message: fmt.Sprintf("%s would be a new member of the etcd kubeha built on %s", name, strings.Join(was.Members, ", ")),
			Fix:     fmt.Sprintf("give %s another role or remove it; %s", name, etcdHandFix)})
	}
	for _, name := range dropped {
		p := inventory.Problem{Path: "spec.hosts",
			Message: fmt.Sprintf("%s, a member of the etcd kubeha built, is no longer listed", name),
			Fix:     fmt.Sprintf("list %s again with role etcd; %s", name, etcdHandFix)}
		if h, ok := c.Host(name); ok {
			p.Path = rolePath(c, name)
			p.Message = fmt.Sprintf("%s, but %s is a member of the etcd kubeha built", h.Role, name)
			p.Fix = fmt.Sprintf("give %s role etcd again; %s", name, etcdHandFix)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	return refuse(BuildEtcdCluster{}.ID(), ps...)
}

// rolePath is the YAML path of the role of c's host name.
func rolePath(c *inventory.Cluster, name string) string {
	i := slices.IndexFunc(c.Spec.Hosts, func(h inventory.Host) bool { return h.Name == name })
	return fmt.Sprintf("spec.hosts[%d].role", i)
}

// diffSets returns what now has that was lacks, and what was has that now
// lacks, each in its list's order.
func diffSets(was, now []string) (added, dropped []string) {
	for _, s := range now {
		if !slices.Contains(was, s) {
			added = append(added, s)
		}
	}
	for _, s := range was {
		if !slices.Contains(now, s) {
			dropped = append(dropped, s)
		}
	}
	return added, dropped
}

// Package phases holds the ordered steps that turn hosts into a cluster and
// the runner that executes them with resume.
//
// A phase is one file, one VerbNoun type with a stable ID (the ID is what
// the journal, --skip-phases and `kubeha phase <id>` use; the title is for
// people). A phase first probes the hosts for what is left to do and then
// does only that; its remote scripts also guard themselves, so a rerun, or a
// rerun by hand, is harmless.
package phases

import (
	"context"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
)

// Phase is the required part of every phase.
type Phase interface {
	// ID is the stable identifier, e.g. "join-workers".
	ID() string
	// Title is a short human description, e.g. "Join worker nodes".
	Title() string
	// Probe asks the hosts what is left to do. It must not change anything
	// on a host. Work.Targets lists every host the phase concerns;
	// Work.Pending the ones that still need it.
	Probe(ctx context.Context, env *Env) (Work, error)
	// Run does the work on w.Pending. It must be safe to call again after a
	// failure or an interruption at any point.
	Run(ctx context.Context, env *Env, w Work) error
}

// Planner is implemented by phases that can describe, without changing
// anything, each change Run would make (kubeha plan). Phases without it are
// planned from their Work.
type Planner interface {
	Plan(ctx context.Context, env *Env, w Work) ([]Change, error)
}

// CleanerUpper is implemented by phases that can undo what they did
// (kubeha reset). CleanUp runs in reverse phase order and must tolerate
// hosts where the phase never ran.
type CleanerUpper interface {
	CleanUp(ctx context.Context, env *Env) error
}

// TearDowner is implemented by the phase that makes hosts cluster nodes
// (kubeadm init, whose teardown is kubeadm reset on every node). kubeha
// reset runs TearDown before any CleanUp: until the kubelet is stopped and
// the pods are gone, it would recreate the bridges, rules and IP allocations
// that the network phases' CleanUp removes. TearDown must tolerate hosts
// that were never nodes.
type TearDowner interface {
	TearDown(ctx context.Context, env *Env) error
}

// InputHasher is implemented by phases whose work depends on only part of
// the inventory. The runner hashes what Inputs returns; phases without it
// depend on the whole spec, so any inventory change re-runs them.
type InputHasher interface {
	Inputs(c *inventory.Cluster) any
}

// Work is what a probe found.
type Work struct {
	// Targets is every host the phase concerns, in inventory order.
	Targets []string
	// Pending is the subset of Targets that still needs the phase.
	Pending []string
	// Reasons says, per pending host, what is missing ("haproxy.cfg differs").
	Reasons map[string]string
}

// Done reports whether no host needs the phase.
func (w Work) Done() bool { return len(w.Pending) == 0 }

// AllPending returns w with every target pending, for a run the journal
// cannot vouch for or that the operator forced.
func (w Work) AllPending(reason string) Work {
	out := Work{Targets: w.Targets, Pending: append([]string(nil), w.Targets...), Reasons: map[string]string{}}
	for _, h := range w.Targets {
		if r, ok := w.Reasons[h]; ok {
			out.Reasons[h] = r
		} else {
			out.Reasons[h] = reason
		}
	}
	return out
}

// Change is one thing a phase would do on a host.
type Change struct {
	Host string `json:"host"`
	What string `json:"what"`
}

// Env is what a phase gets to work with. The runner builds one per phase;
// phases must not keep it beyond Run.
type Env struct {
	Cluster *inventory.Cluster
	// Log emits events already tagged with the phase ID.
	Log events.Emitter
	// Secrets is where a phase registers every secret it creates or reads,
	// before the secret can reach any output.
	Secrets *events.Secrets
	// Concurrency bounds how many hosts a phase works on at once.
	Concurrency int
	// UploadConcurrency bounds how many hosts receive large uploads at once.
	UploadConcurrency int
	// Hosts reaches the machines. Nil only in engine tests with fake phases.
	Hosts Hosts
	// Facts are the hosts' facts for the run, gathered on first use and
	// again only at the named points where a phase changed them
	// (FactStore.Refresh). Never nil when Hosts is set.
	Facts *FactStore
	// ControlPlane is the run's one way to the cluster's apiservers and
	// etcd, emitting under this phase's name. Never nil when Hosts is set.
	ControlPlane *controlplane.Client

	// RemoveNodes: the operator asked for the nodes the inventory no
	// longer lists to be taken out of the cluster (apply --remove-nodes).
	RemoveNodes bool
	// Former are the hosts earlier runs were given that the inventory no
	// longer lists, as the journal remembers them.
	Former []inventory.Host
	// forget drops a former host from the journal once it is out.
	forget func(name string) error

	results *hostResults
	// hooks are the registered phases' join hooks, in phase order.
	hooks []JoinHooker
}

// JoinHooker is implemented by phases that contribute a step to each node's
// kubeadm init or join. The joins call every registered phase's hooks
// rather than reach into another phase's files: host-prep points the
// endpoint where a joining master can reach an apiserver and back; the cni
// phase writes a node's CNI config as soon as it has a Pod CIDR.
type JoinHooker interface {
	// BeforeJoin runs on h just before its kubeadm join.
	BeforeJoin(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) error
	// AfterJoin runs on h once its kubeadm init or join succeeded.
	AfterJoin(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) error
}

// beforeJoin runs every hook's BeforeJoin on h, in phase order.
func (env *Env) beforeJoin(ctx context.Context, h inventory.Host, controlPlane bool) error {
	for _, hk := range env.hooks {
		if err := hk.BeforeJoin(ctx, env, h, controlPlane); err != nil {
			return err
		}
	}
	return nil
}

// afterJoin runs every hook's AfterJoin on h, in phase order.
func (env *Env) afterJoin(ctx context.Context, h inventory.Host, controlPlane bool) error {
	for _, hk := range env.hooks {
		if err := hk.AfterJoin(ctx, env, h, controlPlane); err != nil {
			return err
		}
	}
	return nil
}

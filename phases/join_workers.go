package phases

import (
	"context"
	"fmt"
	"sync"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
)

// JoinWorkers joins the workers, several at once.
type JoinWorkers struct{}

var _ Phase = (*JoinWorkers)(nil)

func (JoinWorkers) ID() string { return "join-workers" }

// Overlaps: workers join while the other masters join one at a time. A
// worker needs only the first control-plane node, reached through the
// endpoint, whose health checks send it only to ready apiservers.
func (JoinWorkers) Overlaps() string { return "join-control-plane" }
func (JoinWorkers) Title() string    { return "Join worker nodes" }

func (JoinWorkers) Probe(ctx context.Context, env *Env) (Work, error) {
	var targets []string
	for _, h := range env.Cluster.Workers() {
		targets = append(targets, h.Name)
	}
	return ProbePending(ctx, env, targets, func(ctx context.Context, host string) (string, error) {
		f, err := env.Facts.Get(ctx, env, host)
		if err != nil || f.NodeDone {
			return "", err
		}
		if f.Interrupted() {
			return "an earlier join was cut short: check it, else reset and join again", nil
		}
		return "kubeadm join", nil
	})
}

var _ FileRenderer = JoinWorkers{}

// Files is the JoinConfiguration of every worker, with placeholder secrets:
// Run writes the same files with the run's own.
func (JoinWorkers) Files(_ context.Context, v View) ([]HostFile, error) {
	c := v.Cluster()
	return joinConfigFiles(c, c.Workers(), kubeadm.Placeholders, false)
}

func (JoinWorkers) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	cp := env.ControlPlane
	// Credentials on first need, once, shared by every join: on a rerun
	// most workers are joined and need none.
	var mu sync.Mutex
	var made *kubeadm.Secrets
	var madeErr error
	joinSecrets := func(ctx context.Context) (kubeadm.Secrets, error) {
		mu.Lock()
		defer mu.Unlock()
		if made == nil && madeErr == nil {
			s, err := cp.JoinSecrets(ctx, false)
			made, madeErr = &s, err
		}
		return *made, madeErr
	}
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		f, err := env.Facts.Refresh(ctx, env, host)
		if err != nil {
			return err
		}
		if f.NodeDone {
			env.Log.ForHost(host).Info("already joined")
			return nil
		}
		if f.Interrupted() {
			done, err := recoverInterrupted(ctx, env, h, false)
			if err != nil || done {
				if err == nil {
					_, err = env.Facts.Refresh(ctx, env, host)
				}
				return err
			}
		}
		if c.Spec.LoadBalancer.Mode == inventory.ModeExternal {
			// Workers join through the SLB: say so plainly if it does not
			// answer, rather than let kubeadm time out.
			code, err := cp.EndpointStatus(ctx, host)
			if err != nil {
				return err
			}
			if code != "200" {
				return fmt.Errorf("the SLB at %s does not serve the apiserver (HTTP %q): check it forwards :%d to every master's :%d",
					c.Spec.LoadBalancer.Address, code, c.Spec.ControlPlaneEndpoint.Port, inventory.APIServerPort)
			}
		}
		s, err := joinSecrets(ctx)
		if err != nil {
			return err
		}
		if err := env.beforeJoin(ctx, h, false); err != nil {
			return err
		}
		if err := putJoinConfig(ctx, env, h, s, false); err != nil {
			return err
		}
		if _, err := env.run(ctx, host, "kubeadm join", joinScript(false), s.Token); err != nil {
			return err
		}
		if _, err = env.Facts.Refresh(ctx, env, host); err != nil {
			return err
		}
		return env.afterJoin(ctx, h, false)
	})
}

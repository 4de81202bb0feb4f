package phases

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/state"
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
		f, err := env.Shared.Facts.Get(ctx, env, host, false)
		if err != nil || f.NodeDone {
			return "", err
		}
		if f.Interrupted() {
			return "an earlier join was cut short: check it, else reset and join again", nil
		}
		return "kubeadm join", nil
	})
}

func (JoinWorkers) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	// Look before making credentials: on a rerun most workers are joined.
	// A host that cannot be reached fails alone; the others go on.
	var mu sync.Mutex
	var lookErrs []error
	unreachable := map[string]bool{}
	ProbeEach(ctx, env, w.Pending, func(ctx context.Context, host string) error {
		f, err := env.Shared.Facts.Get(ctx, env, host, true)
		if err != nil {
			mu.Lock()
			lookErrs = append(lookErrs, &HostError{Host: host, Err: err})
			unreachable[host] = true
			mu.Unlock()
			env.results.set(host, state.StatusFailed, err)
		} else if f.NodeDone {
			env.Log.ForHost(host).Info("already joined")
		}
		return nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var todo []string
	for _, h := range w.Pending {
		if f := env.Shared.Facts.known(h); !unreachable[h] && f != nil && !f.NodeDone {
			todo = append(todo, h)
		}
	}
	if len(todo) == 0 {
		return errors.Join(lookErrs...)
	}
	// Credentials once, before the fan-out, so all joins share them.
	s, err := joinSecrets(ctx, env, false)
	if err != nil {
		return err
	}
	err = ForEachHost(ctx, env, todo, 0, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		if f := env.Shared.Facts.known(host); f.Interrupted() {
			done, err := recoverInterrupted(ctx, env, h, false)
			if err != nil || done {
				if err == nil {
					_, err = env.Shared.Facts.Get(ctx, env, host, true)
				}
				return err
			}
		}
		if c.Spec.LoadBalancer.Mode == inventory.ModeExternal {
			// Workers join through the SLB: say so plainly if it does not
			// answer, rather than let kubeadm time out.
			res, err := env.quiet(ctx, host, "check the SLB", scripts.Legacy(slbCheckScript(kubeadm.Endpoint(c))))
			if err != nil {
				return err
			}
			if code := strings.TrimSpace(res.Stdout); code != "200" {
				return fmt.Errorf("the SLB at %s does not serve the apiserver (HTTP %q): check it forwards :%d to every master's :6443", c.Spec.LoadBalancer.Address, code, c.Spec.ControlPlaneEndpoint.Port)
			}
		}
		cfg, err := kubeadm.JoinConfig(c, h, s, false)
		if err != nil {
			return err
		}
		if _, err := env.putFiles(ctx, host, []fileSpec{{Path: kubeadm.JoinConfigPath, Mode: 0o600, Content: cfg, Secret: true}}); err != nil {
			return err
		}
		script := joinScript(false)
		if _, err := env.run(ctx, host, "kubeadm join", scripts.Legacy(script), s.Token); err != nil {
			return err
		}
		if _, err = env.Shared.Facts.Get(ctx, env, host, true); err != nil {
			return err
		}
		earlyBridgeCNI(ctx, env, host)
		return nil
	})
	return errors.Join(append(lookErrs, err)...)
}

// slbCheckScript prints the HTTP status of the apiserver's /readyz through
// endpoint (host:port), or 000 when nothing answers; it always exits 0.
func slbCheckScript(endpoint string) string {
	return fmt.Sprintf("curl -sk --max-time 5 -o /dev/null -w '%%{http_code}' %s; true", ssh.Quote("https://"+endpoint+"/readyz"))
}

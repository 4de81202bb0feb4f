package phases

import (
	"context"
	"fmt"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
)

// JoinControlPlane joins the other masters one at a time: etcd grows one
// member at a time, and each new member must be healthy before the next, or
// a failure can cost the quorum.
type JoinControlPlane struct{}

var _ Phase = (*JoinControlPlane)(nil)

func (JoinControlPlane) ID() string    { return "join-control-plane" }
func (JoinControlPlane) Title() string { return "Join the other control-plane nodes, one at a time" }

func (JoinControlPlane) Probe(ctx context.Context, env *Env) (Work, error) {
	w := Work{Reasons: map[string]string{}}
	for _, m := range env.Cluster.Masters()[1:] {
		w.Targets = append(w.Targets, m.Name)
		f, err := env.Shared.Facts.Get(ctx, env, m.Name, false)
		if err != nil {
			return w, &HostError{Host: m.Name, Err: err}
		}
		if !f.ControlPlaneDone {
			w.Pending = append(w.Pending, m.Name)
			w.Reasons[m.Name] = "kubeadm join --control-plane"
			if f.Interrupted() {
				w.Reasons[m.Name] = "an earlier join was cut short: check it, else reset and join again"
			}
		}
	}
	return w, nil
}

// joinThroughFirst reports whether a joining master must reach the
// endpoint through the first master: where host-prep points a master's
// endpoint name at the master itself (external SLB's hairpin rule, local
// proxy on 6443), its own apiserver does not exist until the join is done.
func joinThroughFirst(c *inventory.Cluster) bool {
	m := c.Masters()[0]
	return EndpointAddress(c, m) == m.InternalAddress || EndpointAddress(c, m) == "127.0.0.1"
}

func (JoinControlPlane) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	return ForEachHost(ctx, env, w.Pending, 1, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		// Look before making credentials: on a rerun most masters are joined.
		f, err := env.Shared.Facts.Get(ctx, env, host, true)
		if err != nil {
			return err
		}
		if f.ControlPlaneDone {
			// A run cut short during the waits below left the mark without
			// them: wait again (at once when healthy) before the next join.
			env.Log.ForHost(host).Info("already a control-plane node")
			_, err := env.quiet(ctx, host, "wait for apiserver and etcd", scripts.Legacy(waitReadyScript(180)+"\n"+waitEtcdScript))
			return err
		}
		if f.Interrupted() {
			if done, err := recoverInterrupted(ctx, env, h, true); err != nil || done {
				if err == nil {
					_, err = env.Shared.Facts.Get(ctx, env, host, true)
				}
				return err
			}
		}
		s, err := joinSecrets(ctx, env, true)
		if err != nil {
			return err
		}
		cfg, err := kubeadm.JoinConfig(c, h, s, true)
		if err != nil {
			return err
		}
		if joinThroughFirst(c) {
			if _, err := env.run(ctx, host, "point the endpoint at the first master for the join",
				scripts.Legacy(hostsScript(hostsBlock(c, c.Masters()[0].InternalAddress)))); err != nil {
				return err
			}
		}
		if _, err := env.putFiles(ctx, host, []fileSpec{{Path: kubeadm.JoinConfigPath, Mode: 0o600, Content: cfg, Secret: true}}); err != nil {
			return err
		}
		script := joinScript(true) + "\n" + waitReadyScript(180) + "\n" + waitEtcdScript
		if _, err := env.run(ctx, host, "kubeadm join --control-plane", scripts.Legacy(script), s.Token, s.CertificateKey); err != nil {
			return err
		}
		if joinThroughFirst(c) {
			if _, err := env.run(ctx, host, "set /etc/hosts block", scripts.Legacy(hostsScript(hostsBlock(c, EndpointAddress(c, h))))); err != nil {
				return err
			}
		}
		if _, err = env.Shared.Facts.Get(ctx, env, host, true); err != nil {
			return err
		}
		earlyBridgeCNI(ctx, env, host)
		return nil
	})
}

// waitEtcdScript waits until the cluster's etcd is healthy as seen from
// this master's apiserver.
const waitEtcdScript = `i=0; until kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /readyz/etcd >/dev/null 2>&1; do
  i=$((i+1)); if [ $i -ge 120 ]; then echo "etcd not healthy after the join" >&2; exit 1; fi; sleep 1
done`

// joinScript runs kubeadm join with the uploaded config unless kubeha's
// mark says it finished, and marks it when it does. A failed join is undone
// on the spot: a half-joined host (for a master, a half-added etcd member)
// makes the next attempt fail ("Peer URLs already exists"). The config,
// which holds the join secrets, is removed whatever happens.
func joinScript(controlPlane bool) string {
	mark := NodeMark
	if controlPlane {
		mark = ControlPlaneMark
	}
	return fmt.Sprintf(`set -e
trap 'rm -f %[1]s' EXIT
if [ ! -f %[2]s ]; then
  start=$(date +%%s%%N)
  if ! kubeadm join --config %[1]s; then
    echo "join failed: kubeadm reset to leave this host clean for a retry" >&2
    `+resetKeepingLB+`
    exit 1
  fi
  echo "kubeadm join took $(( ($(date +%%s%%N) - start) / 1000000 )) ms"
  %[3]s
fi`, kubeadm.JoinConfigPath, mark, markScript(controlPlane))
}

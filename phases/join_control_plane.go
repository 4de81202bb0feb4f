package phases

import (
	"context"

	"github.com/kubeha/kubeha/controlplane"
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
		f, err := env.Facts.Get(ctx, env, m.Name)
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

var _ FileRenderer = JoinControlPlane{}

// Files is the JoinConfiguration of every master but the first, with
// placeholder secrets: Run writes the same files with the run's own.
func (JoinControlPlane) Files(_ context.Context, v View) ([]HostFile, error) {
	c := v.Cluster()
	return joinConfigFiles(c, c.Masters()[1:], kubeadm.Placeholders, true)
}

func (JoinControlPlane) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	cp := env.ControlPlane
	return ForEachHost(ctx, env, w.Pending, 1, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		// Look before making credentials: on a rerun most masters are joined.
		f, err := env.Facts.Refresh(ctx, env, host)
		if err != nil {
			return err
		}
		if f.ControlPlaneDone {
			// A run cut short during the waits below left the mark without
			// them: wait again (at once when healthy) before the next join.
			env.Log.ForHost(host).Info("already a control-plane node")
			return waitJoined(ctx, cp, h)
		}
		if f.Interrupted() {
			if done, err := recoverInterrupted(ctx, env, h, true); err != nil || done {
				if err == nil {
					_, err = env.Facts.Refresh(ctx, env, host)
				}
				return err
			}
		}
		s, err := cp.JoinSecrets(ctx, true)
		if err != nil {
			return err
		}
		if err := env.beforeJoin(ctx, h, true); err != nil {
			return err
		}
		if err := putJoinConfig(ctx, env, h, s, true); err != nil {
			return err
		}
		if _, err := env.run(ctx, host, "kubeadm join --control-plane", joinScript(true), s.Token, s.CertificateKey); err != nil {
			return err
		}
		if err := waitJoined(ctx, cp, h); err != nil {
			return err
		}
		if _, err = env.Facts.Refresh(ctx, env, host); err != nil {
			return err
		}
		return env.afterJoin(ctx, h, true)
	})
}

// waitJoined waits until a master that joined has its own apiserver ready
// and finds etcd healthy, before the next master adds another member.
func waitJoined(ctx context.Context, cp *controlplane.Client, m inventory.Host) error {
	if err := cp.WaitReady(ctx, m, 180); err != nil {
		return err
	}
	return cp.WaitEtcd(ctx, m, 120)
}

// joinScript runs kubeadm join with the uploaded config unless kubeha's
// mark says it finished, and marks it when it does; a failed join is
// undone on the spot (phases/kubeadm-join).
func joinScript(controlPlane bool) scripts.Script {
	mark := NodeMark
	if controlPlane {
		mark = ControlPlaneMark
	}
	return scripts.Render("phases/kubeadm-join", struct {
		markData
		Config, Mark string
	}{marks(controlPlane), kubeadm.JoinConfigPath, mark})
}

package phases

import (
	"context"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
)

// InitControlPlane runs kubeadm init on the first master and saves the
// admin kubeconfig locally.
type InitControlPlane struct{}

var _ Phase = (*InitControlPlane)(nil)

func (InitControlPlane) ID() string { return "kubeadm-init" }
func (InitControlPlane) Title() string {
	return "Initialise the first control-plane node (kubeadm init)"
}

// initialised returns the first master kubeha marked a finished
// control-plane node, if any, by the facts: any such master means the
// cluster exists, and init must not run again, anywhere.
func initialised(ctx context.Context, env *Env, refresh bool) (inventory.Host, bool, error) {
	for _, m := range env.Cluster.Masters() {
		get := env.Facts.Get
		if refresh {
			get = env.Facts.Refresh
		}
		f, err := get(ctx, env, m.Name)
		if err != nil {
			return m, false, &HostError{Host: m.Name, Err: err}
		}
		if f.ControlPlaneDone {
			return m, true, nil
		}
	}
	return inventory.Host{}, false, nil
}

func (InitControlPlane) Probe(ctx context.Context, env *Env) (Work, error) {
	first := env.Cluster.Masters()[0].Name
	w := Work{Targets: []string{first}, Reasons: map[string]string{}}
	m, done, err := initialised(ctx, env, false)
	if err != nil {
		return w, err
	}
	if done {
		if ready, err := env.ControlPlane.IsReady(ctx, m); err != nil || !ready {
			w.Pending, w.Reasons[first] = []string{first}, "the cluster exists but the apiserver on "+m.Name+" is not ready"
		}
		return w, nil
	}
	w.Pending, w.Reasons[first] = []string{first}, "kubeadm init"
	if f, err := env.Facts.Get(ctx, env, first); err == nil && f.Interrupted() {
		w.Reasons[first] = "an earlier kubeadm init was cut short: kubeadm reset, then kubeadm init"
	}
	return w, nil
}

func (InitControlPlane) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	cp := env.ControlPlane
	// Run again on a cluster that exists (changed inventory, --force): no
	// init, and no credentials recorded that were never created. The
	// master found is the one waited for, so its errors name it.
	m, done, err := initialised(ctx, env, true)
	if err != nil {
		return err
	}
	if done {
		return ForEachHost(ctx, env, []string{m.Name}, 1, func(ctx context.Context, host string) error {
			env.Log.ForHost(host).Info("already initialised: waiting for the apiserver, refreshing the local kubeconfig")
			if err := cp.WaitReady(ctx, m, 180); err != nil {
				return err
			}
			return cp.SaveAdminKubeconfig(ctx, m)
		})
	}
	return ForEachHost(ctx, env, w.Pending, 1, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		f, err := env.Facts.Get(ctx, env, host)
		if err != nil {
			return err
		}
		if f.Interrupted() {
			env.Log.ForHost(host).Warn("an earlier kubeadm init was cut short here: kubeadm reset, then init again")
			if err := stopOrphanKubeadm(ctx, env, host); err != nil {
				return err
			}
			if _, err := cp.KubectlOn(ctx, h, controlplane.Endpoint, "kubeadm reset", resetInterruptedScript(true)); err != nil {
				return err
			}
		}
		s := cp.InitSecrets()
		cfg, err := initConfigFile(ctx, env.View(), s)
		if err != nil {
			return err
		}
		if _, err := env.putFiles(ctx, host, hostFileSpecs([]HostFile{cfg}, host)); err != nil {
			return err
		}
		if _, err := env.run(ctx, host, "kubeadm init", initScript(), s.Token, s.CertificateKey); err != nil {
			return err
		}
		cp.RecordInit(s)
		cp.Initialized(h)
		if _, err := env.Facts.Refresh(ctx, env, host); err != nil {
			return err
		}
		if err := cp.WaitReady(ctx, h, 180); err != nil {
			return err
		}
		if err := cp.SaveAdminKubeconfig(ctx, h); err != nil {
			return err
		}
		return env.afterJoin(ctx, h, true)
	})
}

var _ FileRenderer = InitControlPlane{}

// Files is the InitConfiguration kubeadm init gets on the first master,
// with placeholder secrets: Run writes the same file with the run's own.
func (InitControlPlane) Files(ctx context.Context, v View) ([]HostFile, error) {
	f, err := initConfigFile(ctx, v, kubeadm.Placeholders)
	if err != nil {
		return nil, err
	}
	return []HostFile{f}, nil
}

// initConfigFile renders the first master's InitConfiguration with secrets
// s. kube-proxy's mode is cluster-wide: the view's, which is the fallback
// when any node lacks ip_vs (the facts phase has warned).
func initConfigFile(ctx context.Context, v View, s kubeadm.Secrets) (HostFile, error) {
	c := v.Cluster()
	first := c.Masters()[0]
	mode, err := v.ProxyMode(ctx)
	if err != nil {
		return HostFile{}, err
	}
	cc := *c
	cc.Spec.Network.KubeProxyMode = mode
	cfg, err := kubeadm.InitConfig(&cc, first, s)
	if err != nil {
		return HostFile{}, err
	}
	return HostFile{Host: first.Name, Path: kubeadm.InitConfigPath, Mode: 0o600, Content: cfg, Secret: true}, nil
}

// joinConfigFiles renders the JoinConfiguration of each of hosts with
// secrets s, as a control-plane node when controlPlane.
func joinConfigFiles(c *inventory.Cluster, hosts []inventory.Host, s kubeadm.Secrets, controlPlane bool) ([]HostFile, error) {
	var out []HostFile
	for _, h := range hosts {
		cfg, err := kubeadm.JoinConfig(c, h, s, controlPlane)
		if err != nil {
			return nil, &HostError{Host: h.Name, Err: err}
		}
		out = append(out, HostFile{Host: h.Name, Path: kubeadm.JoinConfigPath, Mode: 0o600, Content: cfg, Secret: true})
	}
	return out, nil
}

// putJoinConfig writes h's JoinConfiguration, with this run's secrets s.
func putJoinConfig(ctx context.Context, env *Env, h inventory.Host, s kubeadm.Secrets, controlPlane bool) error {
	files, err := joinConfigFiles(env.Cluster, []inventory.Host{h}, s, controlPlane)
	if err != nil {
		return err
	}
	_, err = env.putFiles(ctx, h.Name, hostFileSpecs(files, h.Name))
	return err
}

// markData is what the kubeadm templates need to mark a host done.
type markData struct {
	MarkDir string
	Marks   []string
}

// marks is markData for a node, and a control-plane node when
// controlPlane.
func marks(controlPlane bool) markData {
	d := markData{MarkDir: kubeadm.ConfigDir, Marks: []string{NodeMark}}
	if controlPlane {
		d.Marks = append(d.Marks, ControlPlaneMark)
	}
	return d
}

// initScript runs kubeadm init with the uploaded config unless kubeha's
// mark says it finished, marks it when it does, and removes the config
// (it holds the join secrets) whatever happens.
func initScript() scripts.Script {
	return scripts.Render("phases/kubeadm-init", struct {
		markData
		Config, Mark string
	}{marks(true), kubeadm.InitConfigPath, ControlPlaneMark})
}

var _ TearDowner = InitControlPlane{}

// TearDown is kubeadm reset on every node, workers first and masters last
// so the etcd members leave while a quorum can still take note. kubeadm
// reset stops the kubelet, removes every pod and kubeadm's files; kubeha's
// marks go with it. What kubeadm reset leaves (CNI state, kube-proxy's
// rules, routes) is for the network phases' CleanUp, which runs after.
func (InitControlPlane) TearDown(ctx context.Context, env *Env) error {
	c := env.Cluster
	var nodes []string
	for _, h := range append(c.Workers(), reverse(c.Masters())...) {
		nodes = append(nodes, h.Name)
	}
	script := teardownScript(c.Spec.Etcd.Topology != inventory.EtcdExternal)
	return ForEachHost(ctx, env, nodes, 1, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "kubeadm reset", script)
		return err
	})
}

// teardownData is what phases/teardown checks beyond kubeadm's files:
// kubeha's marks, and with StackedEtcd the local etcd's data.
type teardownData struct {
	Marks       []string
	StackedEtcd bool
}

// teardownScript is kubeadm reset and kubeha's marks, verified (template
// phases/teardown): no pod container may still run (a kube-proxy left
// running would recreate its chains after the network clean-up), and no
// file kubeadm made may be left. stackedEtcd adds the local etcd's data to
// the checks; an external etcd's is not the cluster nodes' to remove.
func teardownScript(stackedEtcd bool) scripts.Script {
	return scripts.Render("phases/teardown", teardownData{Marks: []string{NodeMark, ControlPlaneMark}, StackedEtcd: stackedEtcd})
}

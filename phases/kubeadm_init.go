package phases

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/state"
)

// InitControlPlane runs kubeadm init on the first master and saves the
// admin kubeconfig locally.
type InitControlPlane struct{}

var _ Phase = (*InitControlPlane)(nil)

func (InitControlPlane) ID() string { return "kubeadm-init" }
func (InitControlPlane) Title() string {
	return "Initialise the first control-plane node (kubeadm init)"
}

func (InitControlPlane) Probe(ctx context.Context, env *Env) (Work, error) {
	first := env.Cluster.Masters()[0].Name
	w := Work{Targets: []string{first}, Reasons: map[string]string{}}
	// Any master kubeha marked means the cluster exists: init must not run
	// again, anywhere.
	for _, m := range env.Cluster.Masters() {
		f, err := env.Shared.Facts.Get(ctx, env, m.Name, false)
		if err != nil {
			return w, err
		}
		if f.ControlPlaneDone {
			if _, err := env.quiet(ctx, m.Name, "apiserver ready", scripts.Legacy("curl -sfk --max-time 3 https://127.0.0.1:6443/readyz >/dev/null")); err != nil {
				w.Pending, w.Reasons[first] = []string{first}, "the cluster exists but the apiserver on "+m.Name+" is not ready"
			}
			return w, nil
		}
	}
	w.Pending, w.Reasons[first] = []string{first}, "kubeadm init"
	if f, _ := env.Shared.Facts.Get(ctx, env, first, false); f.Interrupted() {
		w.Reasons[first] = "an earlier kubeadm init was cut short: kubeadm reset, then kubeadm init"
	}
	return w, nil
}

func (InitControlPlane) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	return ForEachHost(ctx, env, w.Pending, 1, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		// Run again on a cluster that exists (changed inventory, --force):
		// no init, and no credentials recorded that were never created.
		for _, m := range c.Masters() {
			f, err := env.Shared.Facts.Get(ctx, env, m.Name, true)
			if err != nil {
				return &HostError{Host: m.Name, Err: err}
			}
			if f.ControlPlaneDone {
				env.Log.ForHost(m.Name).Info("already initialised: waiting for the apiserver, refreshing the local kubeconfig")
				if _, err := env.quiet(ctx, m.Name, "wait for apiserver", scripts.Legacy(waitReadyScript(180))); err != nil {
					return &HostError{Host: m.Name, Err: err}
				}
				return saveAdminConf(ctx, env, m.Name)
			}
		}
		f, _ := env.Shared.Facts.Get(ctx, env, host, false)
		if f.Interrupted() {
			env.Log.ForHost(host).Warn("an earlier kubeadm init was cut short here: kubeadm reset, then init again")
			if err := stopOrphanKubeadm(ctx, env, host); err != nil {
				return err
			}
			if _, err := env.run(ctx, host, "kubeadm reset", scripts.Legacy(resetInterruptedInitScript())); err != nil {
				return err
			}
		}
		s := kubeadm.Secrets{Token: NewToken(), CertificateKey: NewCertificateKey()}
		env.Secrets.Add(s.Token, s.CertificateKey)
		// kube-proxy's mode is cluster-wide: the fallback when any node
		// lacks ip_vs (the facts phase has warned).
		mode, err := EffectiveProxyMode(ctx, env)
		if err != nil {
			return err
		}
		cc := *c
		cc.Spec.Network.KubeProxyMode = mode
		cfg, err := kubeadm.InitConfig(&cc, h, s)
		if err != nil {
			return err
		}
		if _, err := env.putFiles(ctx, host, []fileSpec{{Path: kubeadm.InitConfigPath, Mode: 0o600, Content: cfg, Secret: true}}); err != nil {
			return err
		}
		if _, err := env.run(ctx, host, "kubeadm init", scripts.Legacy(initScript()), s.Token, s.CertificateKey); err != nil {
			return err
		}
		env.Shared.Join.recordInit(s.Token, s.CertificateKey)
		if _, err := env.Shared.Facts.Get(ctx, env, host, true); err != nil {
			return err
		}
		if err := saveAdminConf(ctx, env, host); err != nil {
			return err
		}
		earlyBridgeCNI(ctx, env, host)
		return nil
	})
}

// initScript runs kubeadm init with the uploaded config unless kubeha's
// mark says it finished, marks it when it does, removes the config (it
// holds the join secrets) whatever happens, and waits for the apiserver.
func initScript() string {
	return fmt.Sprintf(`set -e
trap 'rm -f %[1]s' EXIT
if [ ! -f %[3]s ]; then
  start=$(date +%%s%%N)
  kubeadm init --config %[1]s --upload-certs
  echo "kubeadm init took $(( ($(date +%%s%%N) - start) / 1000000 )) ms"
  %[4]s
fi
%[2]s`, kubeadm.InitConfigPath, waitReadyScript(180), ControlPlaneMark, markScript(true))
}

var (
	serverRE  = regexp.MustCompile(`(?m)^(\s*server:\s*).*$`)
	keyDataRE = regexp.MustCompile(`(?m)^\s*client-key-data:\s*(\S+)`)
)

// AdminConfPath is where the admin kubeconfig is saved locally.
func AdminConfPath(env *Env) string { return filepath.Join(env.Shared.StateDir, "admin.conf") }

// saveAdminConf fetches admin.conf and saves it locally (0600), pointed at
// an address this machine can reach without the hosts' /etc/hosts: the VIP
// or the SLB (both in the apiserver certificate), or else the first master.
func saveAdminConf(ctx context.Context, env *Env, host string) error {
	c := env.Cluster
	b, err := env.Hosts.Download(ctx, host, "/etc/kubernetes/admin.conf")
	if err != nil {
		return err
	}
	for _, m := range keyDataRE.FindAllSubmatch(b, -1) {
		env.Secrets.Add(string(m[1]))
	}
	addr, port := c.Masters()[0].Address, inventory.APIServerPort
	switch {
	case c.Spec.LoadBalancer.VIP != "":
		addr, port = c.Spec.LoadBalancer.VIP, c.Spec.ControlPlaneEndpoint.Port
	case c.Spec.LoadBalancer.Mode == inventory.ModeExternal:
		addr, port = c.Spec.LoadBalancer.Address, c.Spec.ControlPlaneEndpoint.Port
	}
	b = serverRE.ReplaceAll(b, []byte("${1}https://"+net.JoinHostPort(addr, strconv.Itoa(port))))
	if err := os.MkdirAll(env.Shared.StateDir, 0o700); err != nil {
		return err
	}
	p := AdminConfPath(env)
	if err := state.WriteFileAtomic(p, b, 0o600); err != nil {
		return err
	}
	env.Log.ForHost(host).Info("admin kubeconfig saved to " + p)
	return nil
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

package phases

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// KubeProxy makes kube-proxy run in the cluster's mode on every node. kubeadm
// writes the mode into the kube-proxy ConfigMap at init; this phase checks
// what each node's kube-proxy reports it is actually doing (its /proxyMode
// endpoint), and when that differs (the inventory's mode changed, or the
// ConfigMap was edited by hand) sets the mode in the ConfigMap and restarts
// kube-proxy everywhere, then waits until every node reports the mode.
type KubeProxy struct{}

var _ Phase = (*KubeProxy)(nil)

func (KubeProxy) ID() string    { return "kube-proxy" }
func (KubeProxy) Title() string { return "kube-proxy in the cluster's mode on every node" }

func (KubeProxy) Inputs(c *inventory.Cluster) any {
	return []any{c.Spec.Network.KubeProxyMode, c.Spec.Network.KubeProxyFallbackMode}
}

// proxyModeScript prints the mode the local kube-proxy runs in, or nothing
// (no kube-proxy, an HTTP error, anything that is not a mode); template
// phases/proxy-mode.
func proxyModeScript() scripts.Script { return scripts.Render("phases/proxy-mode", nil) }

func (KubeProxy) Probe(ctx context.Context, env *Env) (Work, error) {
	mode, err := EffectiveProxyMode(ctx, env)
	if err != nil {
		return Work{}, err
	}
	names := nodeNames(env.Cluster)
	cp, err := controlHost(ctx, env)
	if err != nil {
		// No cluster yet (kubeha plan on new hosts): kubeadm init will
		// write the mode; this phase then finds it right.
		w := Work{Targets: names, Pending: names, Reasons: map[string]string{}}
		for _, h := range names {
			w.Reasons[h] = "check kube-proxy's mode once the cluster exists"
		}
		return w, nil
	}
	conf, err := kubeProxyConf(ctx, env)
	if err != nil {
		return Work{}, &HostError{Host: cp.Name, Err: err}
	}
	cmMode := configMapMode(conf)
	return ProbePending(ctx, env, names, func(ctx context.Context, host string) (string, error) {
		res, err := env.quiet(ctx, host, "kube-proxy mode", proxyModeScript())
		if err != nil {
			return "", err
		}
		return proxyModeReason(strings.TrimSpace(res.Stdout), cmMode, mode), nil
	})
}

// proxyModeReason says why a node needs the phase ("" when it does not):
// its kube-proxy reports got ("" when not answering), the kube-proxy
// ConfigMap says cm, the cluster wants want. A kube-proxy that has not
// started yet (a node that just joined) is fine when the ConfigMap is
// right: it will start in the right mode, and verify waits for it.
func proxyModeReason(got, cm, want string) string {
	switch {
	case cm != want:
		return fmt.Sprintf("the kube-proxy ConfigMap says mode %q, the cluster wants %s", cm, want)
	case got != "" && got != want:
		return fmt.Sprintf("kube-proxy runs in %s mode, the cluster wants %s", got, want)
	}
	return ""
}

// kubeProxyConf reads config.conf of the kube-proxy ConfigMap.
func kubeProxyConf(ctx context.Context, env *Env) (string, error) {
	return env.ControlPlane.Query(ctx, controlplane.Endpoint, "read the kube-proxy ConfigMap", scripts.Render("phases/kube-proxy-config", nil))
}

// configMapMode is the top-level mode in a kube-proxy config.conf.
func configMapMode(conf string) string {
	m := modeLineRE.FindString(conf)
	v := strings.TrimSpace(strings.TrimPrefix(m, "mode:"))
	return strings.Trim(v, `"'`)
}

var modeLineRE = regexp.MustCompile(`(?m)^mode:.*$`)

// withProxyMode returns kube-proxy's config.conf with its mode set.
func withProxyMode(conf, mode string) string {
	line := "mode: " + mode
	if modeLineRE.MatchString(conf) {
		return modeLineRE.ReplaceAllLiteralString(conf, line)
	}
	return strings.TrimRight(conf, "\n") + "\n" + line + "\n"
}

func (KubeProxy) Run(ctx context.Context, env *Env, w Work) error {
	mode, err := EffectiveProxyMode(ctx, env)
	if err != nil {
		return err
	}
	cp, err := controlHost(ctx, env)
	if err != nil {
		return err
	}
	log := env.Log.ForHost(cp.Name)
	conf, err := kubeProxyConf(ctx, env)
	if err != nil {
		return &HostError{Host: cp.Name, Err: err}
	}
	// Look again, as the probe did: on a first run every node is pending
	// because the journal has no record, not because a mode is wrong, and a
	// needless restart costs every node its kube-proxy for seconds.
	var mu sync.Mutex
	var wrong []string
	err = ProbeEach(ctx, env, w.Pending, func(ctx context.Context, host string) error {
		res, err := env.quiet(ctx, host, "kube-proxy mode", proxyModeScript())
		if err != nil {
			return err
		}
		if why := proxyModeReason(strings.TrimSpace(res.Stdout), mode, mode); why != "" {
			env.Log.ForHost(host).Info(why)
			mu.Lock()
			wrong = append(wrong, host)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	cmMode := configMapMode(conf)
	if cmMode == mode && len(wrong) == 0 {
		log.Info("the kube-proxy ConfigMap says mode " + mode + " and no kube-proxy runs another")
		return nil
	}
	patch := ""
	if want := withProxyMode(conf, mode); want != conf {
		b, err := json.Marshal(map[string]any{"data": map[string]string{"config.conf": want}})
		if err != nil {
			return err
		}
		if _, err := env.putFiles(ctx, cp.Name, []fileSpec{{Path: kubeProxyPatchPath, Mode: 0o600, Content: b}}); err != nil {
			return &HostError{Host: cp.Name, Err: err}
		}
		patch = kubeProxyPatchPath
	} else {
		log.Info("the kube-proxy ConfigMap already says mode " + mode + "; a kube-proxy runs another: restarting them")
	}
	if _, err := env.ControlPlane.Kubectl(ctx, controlplane.Endpoint, "set kube-proxy's mode and restart it", setProxyModeScript(patch, mode)); err != nil {
		return &HostError{Host: cp.Name, Err: err}
	}
	// Every pending node, until its kube-proxy reports the mode. A restart
	// takes a few seconds per node; a kube-proxy that cannot run in the mode
	// (a kernel without ip_vs) never reports it, and the error says so.
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		_, err := env.quiet(ctx, host, "wait for kube-proxy", waitProxyModeScript(mode))
		return err
	})
}

// setProxyModeScript applies the ConfigMap patch uploaded to patch (none
// when ""), which sets mode, restarts kube-proxy everywhere and waits up
// to 180 s for the restart to roll out.
func setProxyModeScript(patch, mode string) scripts.Script {
	return scripts.Render("phases/kube-proxy-set-mode", struct {
		Patch, Set string
		Secs       int
	}{patch, "kube-proxy ConfigMap set to mode " + mode, 180})
}

// waitProxyModeData is what phases/wait-proxy-mode waits for: the local
// kube-proxy reporting Mode, for up to Secs seconds.
type waitProxyModeData struct {
	Mode string
	Secs int
}

// waitProxyModeScript waits up to 120 s for the local kube-proxy to report
// mode, and says what it reports instead when it does not (template
// phases/wait-proxy-mode). A restart takes kube-proxy a few seconds.
func waitProxyModeScript(mode string) scripts.Script {
	return scripts.Render("phases/wait-proxy-mode", waitProxyModeData{Mode: mode, Secs: 120})
}

// kubeProxyPatchPath holds the ConfigMap patch for the moment it is applied.
const kubeProxyPatchPath = "/etc/kubeha/kube-proxy-patch.json"

var _ CleanerUpper = KubeProxy{}

// kubeProxyCleanUp is kube-proxy's verified clean-up script (template
// phases/kube-proxy-cleanup): what kube-proxy and the kubelet made in the
// kernel in any mode (KUBE-* chains, its nftables tables, kube-ipvs0 with
// its virtual services, its ipsets), and nothing of the operator's. It runs
// after kubeadm reset stopped the kubelet and with it kube-proxy.
func kubeProxyCleanUp() scripts.Script { return scripts.Render("phases/kube-proxy-cleanup", nil) }

// CleanUp removes kube-proxy's rules from every node.
func (KubeProxy) CleanUp(ctx context.Context, env *Env) error {
	return ForEachHost(ctx, env, nodeNames(env.Cluster), 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove kube-proxy's rules", kubeProxyCleanUp())
		return err
	})
}

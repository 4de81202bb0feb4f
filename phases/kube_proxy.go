package phases

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/kubeha/kubeha/inventory"
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

// proxyModeScript prints the mode the local kube-proxy runs in, or nothing.
const proxyModeScript = `curl -s --max-time 3 http://127.0.0.1:10249/proxyMode 2>/dev/null; true`

func (KubeProxy) Probe(ctx context.Context, env *Env) (Work, error) {
	mode, err := EffectiveProxyMode(ctx, env)
	if err != nil {
		return Work{}, err
	}
	return ProbePending(ctx, env, nodeNames(env.Cluster), func(ctx context.Context, host string) (string, error) {
		res, err := env.quiet(ctx, host, "kube-proxy mode", proxyModeScript)
		if err != nil {
			return "", err
		}
		return proxyModeReason(strings.TrimSpace(res.Stdout), mode), nil
	})
}

// proxyModeReason says why a node whose kube-proxy reports got needs the
// phase when the cluster wants want ("" when it does not).
func proxyModeReason(got, want string) string {
	switch got {
	case want:
		return ""
	case "":
		return "kube-proxy is not answering yet: wait for it (mode " + want + ")"
	default:
		return fmt.Sprintf("kube-proxy runs in %s mode, the cluster wants %s", got, want)
	}
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
	const k = "kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout 20s -n kube-system"
	res, err := env.quiet(ctx, cp.Name, "read the kube-proxy ConfigMap", k+` get configmap kube-proxy -o jsonpath='{.data.config\.conf}'`)
	if err != nil {
		return &HostError{Host: cp.Name, Err: err}
	}
	conf := res.Stdout
	if want := withProxyMode(conf, mode); want != conf {
		patch, err := json.Marshal(map[string]any{"data": map[string]string{"config.conf": want}})
		if err != nil {
			return err
		}
		if _, err := env.putFiles(ctx, cp.Name, []fileSpec{{Path: kubeProxyPatchPath, Mode: 0o600, Content: patch}}); err != nil {
			return &HostError{Host: cp.Name, Err: err}
		}
		if _, err := env.run(ctx, cp.Name, "set kube-proxy's mode", fmt.Sprintf(`set -e
trap 'rm -f %[2]s' EXIT
%[1]s patch configmap kube-proxy --type merge --patch-file %[2]s >/dev/null
%[1]s rollout restart daemonset kube-proxy >/dev/null
echo "kube-proxy ConfigMap set to mode %[3]s; kube-proxy restarted on every node"`, k, kubeProxyPatchPath, mode)); err != nil {
			return &HostError{Host: cp.Name, Err: err}
		}
	} else {
		log.Info("the kube-proxy ConfigMap already says mode " + mode + ": waiting for kube-proxy on every node")
	}
	// Every pending node, until its kube-proxy reports the mode. A restart
	// takes a few seconds per node; a kube-proxy that cannot run in the mode
	// (a kernel without ip_vs) never reports it, and the error says so.
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		_, err := env.quiet(ctx, host, "wait for kube-proxy", fmt.Sprintf(`i=0
while [ "$(curl -s --max-time 3 http://127.0.0.1:10249/proxyMode 2>/dev/null)" != %[1]s ]; do
  i=$((i+1)); if [ $i -ge 120 ]; then
    echo "kube-proxy does not report mode %[1]s after 120 s (it says: $(curl -s --max-time 3 http://127.0.0.1:10249/proxyMode 2>/dev/null || echo nothing)); see: kubectl -n kube-system logs -l k8s-app=kube-proxy" >&2; exit 1
  fi
  sleep 1
done`, mode))
		return err
	})
}

// kubeProxyPatchPath holds the ConfigMap patch for the moment it is applied.
const kubeProxyPatchPath = "/etc/kubeha/kube-proxy-patch.json"

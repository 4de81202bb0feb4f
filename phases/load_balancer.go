package phases

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/scripts"
)

// nginxUnitPath runs kubeha's own nginx for the local proxy, apart from
// the distribution's nginx and its default site.
const nginxUnitPath = "/etc/systemd/system/kubeha-nginx.service"

const nginxUnit = `[Unit]
Description=kubeha local API proxy (nginx)
After=network-online.target
Wants=network-online.target

[Service]
ExecStartPre=/usr/sbin/nginx -t -q -c ` + lb.NginxConfigPath + `
ExecStart=/usr/sbin/nginx -c ` + lb.NginxConfigPath + ` -g 'daemon off;'
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
`

// ConfigureLoadBalancer sets up the API load balancer the inventory names:
// keepalived and haproxy as services or static pods on the masters or
// dedicated hosts, kube-vip as a static pod on the masters, or the local
// proxy (haproxy or nginx) on the nodes. The external mode needs nothing on
// the hosts beyond host-prep's /etc/hosts block.
//
// kube-vip's manifest on the first master depends on how far kubeadm has
// got (lb.Stage): it reads super-admin.conf until kubeadm init has
// finished, admin.conf after. The phase's desired state follows the
// masters' facts (a control-plane node among them: the cluster exists), so
// whatever a run was cut short by, the next one's probe finds the manifest
// that is due; within a run, AfterJoin switches it as soon as kubeadm init
// has succeeded.
type ConfigureLoadBalancer struct {
	mu    sync.Mutex
	stats map[string]string // per host haproxy stats password
}

var _ Phase = (*ConfigureLoadBalancer)(nil)

func (*ConfigureLoadBalancer) ID() string    { return "load-balancer" }
func (*ConfigureLoadBalancer) Title() string { return "Configure the API load balancer" }

// statsPassword returns host's haproxy stats password: the one already in
// its haproxy.cfg, so a rerun changes nothing, or a new random one.
func (l *ConfigureLoadBalancer) statsPassword(ctx context.Context, env *Env, host string) (string, error) {
	l.mu.Lock()
	if p, ok := l.stats[host]; ok {
		l.mu.Unlock()
		return p, nil
	}
	l.mu.Unlock()
	res, err := env.quiet(ctx, host, "read haproxy stats credentials", statsPasswordScript())
	if err != nil {
		return "", err
	}
	p := strings.TrimSpace(res.Stdout)
	// The old password is registered even when it is replaced: it stays in
	// haproxy.cfg until the new file lands.
	env.Secrets.Add(p)
	if len(p) < 16 {
		p = randomString(24)
		env.Secrets.Add(p)
	}
	l.mu.Lock()
	if l.stats == nil {
		l.stats = map[string]string{}
	}
	l.stats[host] = p
	l.mu.Unlock()
	return p, nil
}

// statsPasswordScript prints the stats password in haproxy.cfg, nothing
// when there is none.
func statsPasswordScript() scripts.Script {
	return scripts.Render("phases/lb-stats-password", struct{ Path string }{lb.HAProxyConfigPath})
}

// secrets are host's load-balancer secrets in v: in apply, the stats
// password already in the host's haproxy.cfg, so a rerun changes nothing
// (statsPassword); in render, lb.Placeholders.
func (l *ConfigureLoadBalancer) secrets(ctx context.Context, v View, host string) (lb.Secrets, error) {
	if v.Cluster().Spec.LoadBalancer.Mode == inventory.ModeKubeVIP {
		// kube-vip's manifest holds no secret, and there is no haproxy.
		return lb.Secrets{}, nil
	}
	if v.Offline() {
		return lb.Placeholders, nil
	}
	ev, ok := v.(envView)
	if !ok {
		return lb.Secrets{}, fmt.Errorf("%s: the haproxy stats password is read from the host, which this view does not reach", host)
	}
	pw, err := l.statsPassword(ctx, ev.env, host)
	if err != nil {
		return lb.Secrets{}, err
	}
	return lb.Secrets{StatsPassword: pw}, nil
}

// files is the load balancer's desired state on hosts: every file lb.Derive
// renders for each, with its own secrets, every VIP holder's interface and
// the stage from v, and kubeha's nginx unit where nginx runs. Files is files
// on every load-balancer host; Probe and Run take one host's.
func (l *ConfigureLoadBalancer) files(ctx context.Context, v View, hosts []string) ([]HostFile, error) {
	c := v.Cluster()
	stage, err := lbStage(ctx, v)
	if err != nil {
		return nil, err
	}
	// Derive renders every LB host, so it needs each one's interface.
	ifaces := lb.Interfaces{}
	if c.Spec.LoadBalancer.Interface == "" {
		for _, h := range lb.Hosts(c) {
			i, err := v.Interface(ctx, h.Name)
			if err != nil {
				return nil, err
			}
			ifaces[h.Name] = i
		}
	}
	// One rendering per set of secrets: a host keeps its own files of the
	// rendering with its secrets.
	derived := map[lb.Secrets][]lb.File{}
	var out []HostFile
	for _, host := range hosts {
		s, err := l.secrets(ctx, v, host)
		if err != nil {
			return nil, err
		}
		all, ok := derived[s]
		if !ok {
			if all, err = lb.Derive(c, ifaces, s, stage); err != nil {
				return nil, err
			}
			derived[s] = all
		}
		for _, f := range all {
			if f.Host != host {
				continue
			}
			content := f.Content
			if f.Path == lb.KubeVIPManifestPath {
				if content, err = keepRestarted(ctx, v, host, content); err != nil {
					return nil, err
				}
			}
			// haproxy.cfg holds the stats password.
			out = append(out, HostFile{Host: f.Host, Path: f.Path, Mode: f.Mode, Content: content, Secret: f.Path == lb.HAProxyConfigPath})
			if f.Path == lb.NginxConfigPath {
				out = append(out, HostFile{Host: f.Host, Path: nginxUnitPath, Mode: 0o644, Content: []byte(nginxUnit)})
			}
		}
	}
	return out, nil
}

// keepRestarted is content, kube-vip's manifest for host, with the restart
// annotation host's manifest carries put back as the restart wrote it
// (controlplane.Restarted): kubeha restarts kube-vip through that
// annotation after kubeadm renewed admin.conf (controlplane.RestartKubeVIP,
// in a certificate renewal or an upgrade), and a restart is not a change.
// Without it, the next apply would find each restarted manifest differing
// and write it back, restarting kube-vip again for nothing, the VIP
// holder's with the VIP. A manifest whose configuration changed is still
// written, annotation kept: its kube-vip restarts anyway. Render's view
// asks no host, and keeps content.
func keepRestarted(ctx context.Context, v View, host string, content []byte) ([]byte, error) {
	ev, ok := v.(envView)
	if !ok || v.Offline() {
		return content, nil
	}
	res, err := ev.env.quiet(ctx, host, "read kube-vip's restart", kubeVIPRestartedScript())
	if err != nil {
		return nil, err
	}
	value, _, _ := strings.Cut(strings.TrimSpace(res.Stdout), "\n")
	if value == "" {
		return content, nil
	}
	return controlplane.Restarted(content, value), nil
}

// kubeVIPRestartedScript prints the value of the restart annotation in
// kube-vip's manifest, nothing when there is none; it only reads.
func kubeVIPRestartedScript() scripts.Script {
	return scripts.Render("phases/kube-vip-restarted", struct{ Path string }{lb.KubeVIPManifestPath})
}

// lbStage is how far kubeadm has got in v, as lb.Derive takes it: only
// kube-vip's files depend on it, so other modes ask nothing.
func lbStage(ctx context.Context, v View) (lb.Stage, error) {
	if v.Cluster().Spec.LoadBalancer.Mode != inventory.ModeKubeVIP {
		return lb.BeforeInit, nil
	}
	exists, err := v.ClusterExists(ctx)
	if err != nil || !exists {
		return lb.BeforeInit, err
	}
	return lb.Initialised, nil
}

// lbServices are the host's services that one host's files call for, in
// the order they start: none for static pods, which the kubelet runs.
func lbServices(c *inventory.Cluster, files []HostFile) []string {
	services := map[string]bool{}
	for _, f := range files {
		switch f.Path {
		case lb.HAProxyConfigPath:
			services["haproxy"] = !c.Spec.LoadBalancer.StaticPods
		case lb.KeepalivedConfigPath:
			services["keepalived"] = !c.Spec.LoadBalancer.StaticPods
		case lb.NginxConfigPath:
			services["kubeha-nginx"] = true
		}
	}
	var svcs []string
	for _, s := range []string{"haproxy", "keepalived", "kubeha-nginx"} {
		if services[s] {
			svcs = append(svcs, s)
		}
	}
	return svcs
}

func lbTargets(c *inventory.Cluster) []string {
	var out []string
	for _, h := range lb.Hosts(c) {
		out = append(out, h.Name)
	}
	return out
}

func (l *ConfigureLoadBalancer) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	return ProbePending(ctx, env, lbTargets(c), func(ctx context.Context, host string) (string, error) {
		files, err := l.files(ctx, env.View(), []string{host})
		if err != nil {
			return "", err
		}
		pr, err := env.probe(ctx, host, hostFileSpecs(files, host), lbServicesScript(lbServices(c, files), hostServicesToStop(c)))
		if err != nil {
			return "", err
		}
		var why []string
		if len(pr.Differ) > 0 {
			why = append(why, "write "+strings.Join(pr.Differ, ", "))
		}
		var down, stop []string
		for _, f := range strings.Fields(pr.Extra) {
			if s, ok := strings.CutPrefix(f, "stop:"); ok {
				stop = append(stop, s)
			} else {
				down = append(down, f)
			}
		}
		if len(down) > 0 {
			why = append(why, "start "+strings.Join(down, ", "))
		}
		if len(stop) > 0 {
			why = append(why, "stop the host's "+strings.Join(stop, ", ")+" (the static pods take their place)")
		}
		return strings.Join(why, "; "), nil
	})
}

// lbServicesScript prints each of running that is not active, then
// "stop:NAME" for each of stop that is; it only reads.
func lbServicesScript(running, stop []string) scripts.Script {
	return scripts.Render("phases/lb-services", struct{ Running, Stop []string }{running, stop})
}

func (l *ConfigureLoadBalancer) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		files, err := l.files(ctx, env.View(), []string{host})
		if err != nil {
			return err
		}
		if _, err := env.quiet(ctx, host, "record the distribution's load balancer as found", recordFoundLBScript()); err != nil {
			return err
		}
		changed, err := env.putFiles(ctx, host, hostFileSpecs(files, host))
		if err != nil {
			return err
		}
		if _, err = env.run(ctx, host, "start load balancer", lbStartScript(c, lbServices(c, files), changed)); err != nil {
			return err
		}
		return waitKubeVIP(ctx, env, host, changed)
	})
}

// kubeVIPSettleSecs bounds how long a restarted kube-vip may take to hold
// the VIP again: the kubelet replaces the pod, and the masters' kube-vips
// elect a holder within a lease (lb.KubeVIPLeaseDuration).
const kubeVIPSettleSecs = 120

// waitKubeVIP waits, when changed (the files putFiles wrote on host)
// includes kube-vip's manifest and host is a control-plane node (whose
// kubelet runs the pod; on any other host the manifest waits for kubeadm),
// until the endpoint answers through the VIP again: the kubelet restarted
// kube-vip, and the VIP may have gone with it. The next steps (joins,
// kubectl through the endpoint) need it.
func waitKubeVIP(ctx context.Context, env *Env, host string, changed []string) error {
	if !slices.Contains(changed, lb.KubeVIPManifestPath) {
		return nil
	}
	f, err := env.Facts.Get(ctx, env, host)
	if err != nil || !f.ControlPlaneDone {
		return err
	}
	env.Log.ForHost(host).Info("kube-vip restarted with its new manifest: waiting for the endpoint through the VIP")
	return env.ControlPlane.WaitEndpoint(ctx, host, kubeVIPSettleSecs)
}

var _ JoinHooker = (*ConfigureLoadBalancer)(nil)

// BeforeJoin: the load balancer needs nothing before a join; the phase
// wrote every master's files already.
func (*ConfigureLoadBalancer) BeforeJoin(context.Context, *Env, inventory.Host, bool) error {
	return nil
}

// AfterJoin writes kube-vip's manifest on master h again once kubeadm init
// or join has succeeded there: the first master's, which read
// super-admin.conf during init, now reads admin.conf (the facts say the
// cluster exists, so files renders it so); on any other master the
// manifest is unchanged and nothing is written. It then waits until the
// endpoint answers through the VIP again (waitKubeVIP). The write is
// putFiles' (temporary file, sha256, rename): a run cut short before or
// during it leaves the old manifest or the new one, and the next run's
// probe finds the old one differing from the desired state and writes it.
func (l *ConfigureLoadBalancer) AfterJoin(ctx context.Context, env *Env, h inventory.Host, controlPlane bool) error {
	if env.Cluster.Spec.LoadBalancer.Mode != inventory.ModeKubeVIP || !controlPlane {
		return nil
	}
	files, err := l.files(ctx, env.View(), []string{h.Name})
	if err != nil {
		return err
	}
	var manifest []HostFile
	for _, f := range files {
		if f.Path == lb.KubeVIPManifestPath {
			manifest = append(manifest, f)
		}
	}
	changed, err := env.putFiles(ctx, h.Name, hostFileSpecs(manifest, h.Name))
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		env.Log.ForHost(h.Name).Info("kubeadm init has finished: kube-vip reads admin.conf from now on, no longer super-admin.conf")
	}
	return waitKubeVIP(ctx, env, h.Name, changed)
}

// lbStartScript checks the configs and starts services (restarts them when
// changed lists any file), after stopping the distribution's services that
// the static pods replace; it reloads systemd when kubeha's nginx unit
// changed. A bad config fails it before any service restarts.
func lbStartScript(c *inventory.Cluster, services, changed []string) scripts.Script {
	return scripts.Render("phases/lb-start", struct {
		DaemonReload, Restart                        bool
		Stop, Services                               []string
		HAProxyConfig, KeepalivedConfig, NginxConfig string
	}{
		DaemonReload: slices.Contains(changed, nginxUnitPath), Restart: len(changed) > 0,
		Stop: hostServicesToStop(c), Services: services,
		HAProxyConfig: lb.HAProxyConfigPath, KeepalivedConfig: lb.KeepalivedConfigPath, NginxConfig: lb.NginxConfigPath,
	})
}

// foundDir keeps, per host, what the load-balancer phase found before it
// first changed anything: the distribution's haproxy.cfg and keepalived.conf
// (or that there was none), and whether their services were enabled and
// running. Reset puts them back; host-prep's CleanUp removes the directory.
const foundDir = kubeadm.ConfigDir + "/found"

// managedPattern matches the first line of every config kubeha renders (lb's
// templates begin "# Managed by kubeha"): a distribution file that matches
// is kubeha's, not the one the phase found.
const managedPattern = "^# Managed by kubeha"

// distroLBFiles are the distribution's files the load balancer overwrites.
var distroLBFiles = []string{lb.HAProxyConfigPath, lb.KeepalivedConfigPath}

// recordFoundLBScript records, once, what foundDir describes. A file that
// is already kubeha's (a cluster built before this record existed) is
// recorded as absent: there is nothing of the operator's to restore.
func recordFoundLBScript() scripts.Script {
	return scripts.Render("phases/lb-record-found", struct {
		Dir, Managed string
		Files        []string
	}{foundDir, managedPattern, distroLBFiles})
}

// CleanUp stops the load balancer, removes kubeha's files and its static
// pods' manifests (kube-vip's included), puts back the distribution's
// configs and services as the phase found them, and removes the VIP where
// keepalived or kube-vip was stopped too hard to drop it (a static pod
// removed by kubeadm reset).
func (l *ConfigureLoadBalancer) CleanUp(ctx context.Context, env *Env) error {
	c := env.Cluster
	script := lbCleanUpScript(c.Spec.LoadBalancer.VIP)
	return ForEachHost(ctx, env, lbTargets(c), 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove load balancer", script)
		return err
	})
}

// lbCleanUpData is what phases/lb-cleanup removes and puts back.
type lbCleanUpData struct {
	// Own are kubeha's own files; Distro the distribution's configs that
	// Found (foundDir) records as the phase found them; a config whose
	// first line matches Managed is kubeha's.
	Own, Distro    []string
	Found, Managed string
	// VIP, when set, is removed from any interface that still holds it.
	VIP string
}

// lbCleanUpScript is the load balancer's verified clean-up script
// (template phases/lb-cleanup); vip, when set, is removed from any
// interface that still holds it.
func lbCleanUpScript(vip string) scripts.Script {
	return scripts.Render("phases/lb-cleanup", lbCleanUpData{
		Own: []string{lb.CheckScriptPath, lb.NginxConfigPath, nginxUnitPath, lb.HAProxyManifestPath, lb.KeepalivedManifestPath,
			lb.KubeVIPManifestPath},
		Distro: distroLBFiles, Found: foundDir, Managed: managedPattern, VIP: vip,
	})
}

// hostServicesToStop are the distribution's services that must not run
// beside the static-pod keepalived and haproxy (kube-vip replaces neither:
// staticPods is ignored in its mode).
func hostServicesToStop(c *inventory.Cluster) []string {
	if c.Spec.LoadBalancer.StaticPods && c.Spec.LoadBalancer.Mode == inventory.ModeKeepalivedHAProxy {
		return []string{"haproxy", "keepalived"}
	}
	return nil
}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n characters from crypto/rand.
func randomString(n int) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

var _ FileRenderer = (*ConfigureLoadBalancer)(nil)

// Files is the load balancer's desired state on every host that runs it:
// Probe compares each host's part of it with the host and Run writes what
// differs. In render the stats password is a placeholder, the VIP
// interface the inventory's, or OfflineInterface where the facts phase
// would detect it, and kube-vip's manifests those of a cluster to be made
// (OfflineView.Initialised).
func (l *ConfigureLoadBalancer) Files(ctx context.Context, v View) ([]HostFile, error) {
	return l.files(ctx, v, lbTargets(v.Cluster()))
}

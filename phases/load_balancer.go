package phases

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

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
// keepalived and haproxy as services on the masters or dedicated hosts, or
// the local proxy (haproxy or nginx) on the nodes. The external mode needs
// nothing on the hosts beyond host-prep's /etc/hosts block.
type ConfigureLoadBalancer struct {
	mu    sync.Mutex
	stats map[string]string // per host haproxy stats password
}

var _ Phase = (*ConfigureLoadBalancer)(nil)

func (*ConfigureLoadBalancer) ID() string    { return "load-balancer" }
func (*ConfigureLoadBalancer) Title() string { return "Configure the API load balancer" }

// ErrNotSupported marks inventory settings this version of kubeha validates
// but cannot yet apply.
var ErrNotSupported = errors.New("not supported by this version of kubeha")

func (l *ConfigureLoadBalancer) supported(c *inventory.Cluster) error {
	lbs := c.Spec.LoadBalancer
	switch {
	case lbs.Mode == inventory.ModeKubeVIP:
		return fmt.Errorf("spec.loadBalancer.mode kube-vip: %w; use keepalived-haproxy, local-proxy or external", ErrNotSupported)
	}
	return nil
}

// statsPassword returns host's haproxy stats password: the one already in
// its haproxy.cfg, so a rerun changes nothing, or a new random one.
func (l *ConfigureLoadBalancer) statsPassword(ctx context.Context, env *Env, host string) (string, error) {
	l.mu.Lock()
	if p, ok := l.stats[host]; ok {
		l.mu.Unlock()
		return p, nil
	}
	l.mu.Unlock()
	res, err := env.quiet(ctx, host, "read haproxy stats credentials",
		scripts.Legacy(`sed -n 's/^[[:space:]]*stats auth kubeha:\(.*\)$/\1/p' `+lb.HAProxyConfigPath+` 2>/dev/null | head -1`))
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

// hostFiles renders every LB file for host, with its real secrets.
func (l *ConfigureLoadBalancer) hostFiles(ctx context.Context, env *Env, host string) ([]fileSpec, []string, error) {
	c := env.Cluster
	pw, err := l.statsPassword(ctx, env, host)
	if err != nil {
		return nil, nil, err
	}
	// Derive renders every LB host, so it needs each one's interface.
	ifaces := lb.Interfaces{}
	if c.Spec.LoadBalancer.Interface == "" {
		for _, h := range lb.Hosts(c) {
			f, err := env.Shared.Facts.Get(ctx, env, h.Name, false)
			if err != nil {
				return nil, nil, err
			}
			ifaces[h.Name] = f.Interface
		}
	}
	all, err := lb.Derive(c, ifaces, lb.Secrets{StatsPassword: pw})
	if err != nil {
		return nil, nil, err
	}
	var files []fileSpec
	services := map[string]bool{}
	for _, f := range all {
		if f.Host != host {
			continue
		}
		files = append(files, fileSpec{Path: f.Path, Mode: f.Mode, Content: f.Content, Secret: f.Path == lb.HAProxyConfigPath})
		switch f.Path {
		case lb.HAProxyConfigPath:
			services["haproxy"] = !c.Spec.LoadBalancer.StaticPods
		case lb.KeepalivedConfigPath:
			services["keepalived"] = !c.Spec.LoadBalancer.StaticPods
		case lb.NginxConfigPath:
			services["kubeha-nginx"] = true
			files = append(files, fileSpec{Path: nginxUnitPath, Mode: 0o644, Content: []byte(nginxUnit)})
		}
	}
	var svcs []string
	for _, s := range []string{"haproxy", "keepalived", "kubeha-nginx"} {
		if services[s] {
			svcs = append(svcs, s)
		}
	}
	return files, svcs, nil
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
	if err := l.supported(c); err != nil {
		return Work{}, err
	}
	return ProbePending(ctx, env, lbTargets(c), func(ctx context.Context, host string) (string, error) {
		files, svcs, err := l.hostFiles(ctx, env, host)
		if err != nil {
			return "", err
		}
		differ, err := env.filesDiffer(ctx, host, files)
		if err != nil {
			return "", err
		}
		res, err := env.quiet(ctx, host, "service state", scripts.Legacy("for s in "+strings.Join(svcs, " ")+"; do systemctl is-active -q $s || echo $s; done\n"+
			"for s in "+strings.Join(hostServicesToStop(c), " ")+"; do systemctl is-active -q $s 2>/dev/null && echo stop:$s; done; true"))
		if err != nil {
			return "", err
		}
		var why []string
		if len(differ) > 0 {
			why = append(why, "write "+strings.Join(differ, ", "))
		}
		var down, stop []string
		for _, f := range strings.Fields(res.Stdout) {
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

func (l *ConfigureLoadBalancer) Run(ctx context.Context, env *Env, w Work) error {
	if err := l.supported(env.Cluster); err != nil {
		return err
	}
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		files, svcs, err := l.hostFiles(ctx, env, host)
		if err != nil {
			return err
		}
		if _, err := env.quiet(ctx, host, "record the distribution's load balancer as found", scripts.Legacy(recordFoundLBScript)); err != nil {
			return err
		}
		changed, err := env.putFiles(ctx, host, files)
		if err != nil {
			return err
		}
		// Validate before restarting: a bad config must not take down a
		// working load balancer.
		var b strings.Builder
		b.WriteString("set -e\n")
		if slices.Contains(changed, nginxUnitPath) {
			b.WriteString("systemctl daemon-reload\n")
		}
		if stop := hostServicesToStop(env.Cluster); len(stop) > 0 {
			// The static pods bind the same port and VIP: the distribution's
			// services must not run beside them. The configs are checked by
			// the host's programs where they are installed; the kubelet
			// restarts a pod when its manifest (with the configs' hash)
			// changes.
			fmt.Fprintf(&b, "if command -v haproxy >/dev/null; then haproxy -c -q -f %s; fi\n", lb.HAProxyConfigPath)
			fmt.Fprintf(&b, "if command -v keepalived >/dev/null; then keepalived -t -f %[1]s >/dev/null 2>&1 || keepalived -t -f %[1]s; fi\n", lb.KeepalivedConfigPath)
			fmt.Fprintf(&b, "for s in %s; do if systemctl is-enabled -q $s 2>/dev/null || systemctl is-active -q $s 2>/dev/null; then systemctl disable --now -q $s; echo \"stopped the host's $s: the static pod serves instead\"; fi; done\n", strings.Join(stop, " "))
		}
		for _, s := range svcs {
			switch s {
			case "haproxy":
				b.WriteString("haproxy -c -q -f " + lb.HAProxyConfigPath + "\n")
			case "keepalived":
				b.WriteString("keepalived -t -f " + lb.KeepalivedConfigPath + " >/dev/null 2>&1 || keepalived -t -f " + lb.KeepalivedConfigPath + "\n")
			case "kubeha-nginx":
				b.WriteString("nginx -t -q -c " + lb.NginxConfigPath + "\n")
			}
		}
		for _, s := range svcs {
			restart := len(changed) > 0
			fmt.Fprintf(&b, "systemctl enable -q %s\n", s)
			if restart {
				fmt.Fprintf(&b, "systemctl restart %s\necho 'restarted %s'\n", s, s)
			} else {
				fmt.Fprintf(&b, "systemctl is-active -q %s || { systemctl start %s; echo 'started %s'; }\n", s, s, s)
			}
		}
		_, err = env.run(ctx, host, "start load balancer", scripts.Legacy(b.String()))
		return err
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
var recordFoundLBScript = fmt.Sprintf(`set -e
mkdir -p %[1]s
for f in %[2]s; do
  b=%[1]s/$(basename "$f")
  [ -e "$b" ] || [ -e "$b.absent" ] && continue
  if [ -f "$f" ] && ! grep -q '%[3]s' "$f"; then cp -p "$f" "$b.tmp" && mv "$b.tmp" "$b"; else : > "$b.absent"; fi
done
for s in haproxy keepalived; do
  r=%[1]s/$s.service
  [ -e "$r" ] && continue
  { systemctl is-enabled -q "$s" 2>/dev/null && echo enabled || echo disabled
    systemctl is-active -q "$s" 2>/dev/null && echo active || echo inactive; } > "$r.tmp"
  mv "$r.tmp" "$r"
done
`, foundDir, strings.Join(distroLBFiles, " "), managedPattern)

// CleanUp stops the load balancer, removes kubeha's files and its static
// pods' manifests, puts back the distribution's configs and services as the
// phase found them, and removes the VIP where keepalived was stopped too
// hard to drop it (a static pod removed by kubeadm reset).
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
		Own:    []string{lb.CheckScriptPath, lb.NginxConfigPath, nginxUnitPath, lb.HAProxyManifestPath, lb.KeepalivedManifestPath},
		Distro: distroLBFiles, Found: foundDir, Managed: managedPattern, VIP: vip,
	})
}

// hostServicesToStop are the distribution's services that must not run
// beside the static-pod load balancer.
func hostServicesToStop(c *inventory.Cluster) []string {
	if c.Spec.LoadBalancer.StaticPods {
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

// Files renders the load balancer's files for `kubeha render`, with
// placeholder credentials; the VIP interface is the inventory's, or eth0
// where the facts phase would detect it.
func (l *ConfigureLoadBalancer) Files(ctx context.Context, v View) ([]HostFile, error) {
	c := v.Cluster()
	ifaces := lb.Interfaces{}
	for _, h := range c.Spec.Hosts {
		if c.Spec.LoadBalancer.Interface == "" {
			ifaces[h.Name] = "eth0"
		}
	}
	files, err := lb.Derive(c, ifaces, lb.Placeholders)
	if err != nil {
		return nil, err
	}
	out := make([]HostFile, 0, len(files))
	for _, f := range files {
		out = append(out, HostFile{Host: f.Host, Path: f.Path, Mode: f.Mode, Content: f.Content})
	}
	return out, nil
}

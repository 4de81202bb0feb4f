package phases

import (
	"context"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// onlineView is a view that is not render's and reaches no host.
type onlineView struct{ OfflineView }

func (onlineView) Offline() bool { return false }

// Files is the whole desired state: kubeha's nginx unit beside nginx's
// config, placeholder credentials in render, and no made-up password where
// the host's cannot be read.
func TestLoadBalancerFiles(t *testing.T) {
	c, _, err := inventory.Load("../examples/local-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, err := (&ConfigureLoadBalancer{}).Files(context.Background(), OfflineView{C: c})
	if err != nil {
		t.Fatal(err)
	}
	configs, units := 0, 0
	for _, f := range files {
		switch f.Path {
		case lb.NginxConfigPath:
			configs++
		case nginxUnitPath:
			units++
		}
	}
	if configs == 0 || units != configs {
		t.Errorf("%d nginx configs, %d units: every host with one needs the other", configs, units)
	}

	c, _, err = inventory.Load("../examples/keepalived-haproxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, err = (&ConfigureLoadBalancer{}).Files(context.Background(), OfflineView{C: c})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == lb.HAProxyConfigPath && !strings.Contains(string(f.Content), lb.Placeholders.StatsPassword) {
			t.Errorf("%s: haproxy.cfg without the placeholder password", f.Host)
		}
	}
	if _, err := (&ConfigureLoadBalancer{}).Files(context.Background(), onlineView{OfflineView{C: c}}); err == nil {
		t.Error("a view that reaches no host gave a stats password")
	}
}

// scriptedHosts answers each command by its name and records the scripts
// it was given, by host and name.
type scriptedHosts struct {
	mu      sync.Mutex
	answers map[string]string
	scripts map[string]string
	stdin   map[string]string
}

func (s *scriptedHosts) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[host+" "+cmd.Name] = cmd.Script
	if cmd.Stdin != nil {
		b, _ := io.ReadAll(cmd.Stdin)
		s.stdin[host] = string(b)
	}
	for prefix, out := range s.answers {
		if strings.HasPrefix(cmd.Name, prefix) {
			return ssh.Result{Stdout: out}, nil
		}
	}
	return ssh.Result{}, nil
}
func (s *scriptedHosts) Upload(context.Context, string, ssh.File) error { panic("not used") }
func (s *scriptedHosts) Download(context.Context, string, string) ([]byte, error) {
	panic("not used")
}

// Probe and Run take the same desired state: the probe finds every file
// missing and the services down; Run writes the files with the password
// the probe rendered them with, checks the configs and restarts the
// services.
func TestLoadBalancerProbeAndRun(t *testing.T) {
	c, _, err := inventory.Load("../examples/keepalived-haproxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hosts := &scriptedHosts{answers: map[string]string{
		"gather facts": "iface=eth0\n",
		"probe":        "@@kubeha-section hashes\n@@kubeha-section extra\nhaproxy\nkeepalived\n",
		"write":        lb.HAProxyConfigPath + "\n",
	}, scripts: map[string]string{}, stdin: map[string]string{}}
	env := &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Secrets: &events.Secrets{}, Log: events.Emitter{Sink: events.Discard}, Concurrency: 4}
	l := &ConfigureLoadBalancer{}
	w, err := l.Probe(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	h := lbTargets(c)[0]
	want := "write " + lb.HAProxyConfigPath + ", " + lb.KeepalivedConfigPath + ", " + lb.CheckScriptPath + "; start haproxy, keepalived"
	if len(w.Pending) != len(lbTargets(c)) || w.Reasons[h] != want {
		t.Fatalf("work %+v, want every LB host pending: %q", w, want)
	}
	if err := l.Run(context.Background(), env, w); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hosts.stdin[h], "stats auth kubeha:"+l.stats[h]) {
		t.Errorf("haproxy.cfg written without the password the probe used:\n%s", hosts.stdin[h])
	}
	start := hosts.scripts[h+" start load balancer"]
	for _, s := range []string{"haproxy -c -q -f '/etc/haproxy/haproxy.cfg'", "systemctl reload-or-restart 'haproxy'", "systemctl reload-or-restart 'keepalived'"} {
		if !strings.Contains(start, s) {
			t.Errorf("the start script lacks %q:\n%s", s, start)
		}
	}
}

// kubeVIPHosts keeps each host's files as putFiles writes them (one file a
// command, its content on stdin) and answers the probe with their hashes;
// it counts the waits for the endpoint.
type kubeVIPHosts struct {
	mu    sync.Mutex
	files map[string]map[string][]byte
	waits map[string]int
}

func (k *kubeVIPHosts) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case cmd.Name == "probe":
		var b strings.Builder
		b.WriteString("@@kubeha-section hashes\n")
		for p, c := range k.files[host] {
			b.WriteString(sha256Hex(c) + "  " + p + "\n")
		}
		b.WriteString("@@kubeha-section extra\n")
		return ssh.Result{Stdout: b.String()}, nil
	case strings.HasPrefix(cmd.Name, "write "):
		path := strings.TrimPrefix(cmd.Name, "write ")
		content, _ := io.ReadAll(cmd.Stdin)
		if string(k.files[host][path]) == string(content) {
			return ssh.Result{}, nil
		}
		if k.files[host] == nil {
			k.files[host] = map[string][]byte{}
		}
		k.files[host][path] = content
		return ssh.Result{Stdout: path + "\n"}, nil
	case cmd.Name == "apiserver through the endpoint":
		k.waits[host]++
	case cmd.Name == "read kube-vip's restart":
		return readRestart(k.files[host][lb.KubeVIPManifestPath])
	}
	return ssh.Result{}, nil
}

// readRestart runs phases/kube-vip-restarted on a copy of manifest (none
// when nil), as a host would on its own.
func readRestart(manifest []byte) (ssh.Result, error) {
	dir, err := os.MkdirTemp("", "kube-vip")
	if err != nil {
		return ssh.Result{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "kubeha-kube-vip.yaml")
	if manifest != nil {
		if err := os.WriteFile(path, manifest, 0o600); err != nil {
			return ssh.Result{}, err
		}
	}
	out, err := exec.Command("sh", "-c", scripts.Render("phases/kube-vip-restarted", struct{ Path string }{path}).String()).Output()
	return ssh.Result{Stdout: string(out)}, err
}
func (k *kubeVIPHosts) Upload(context.Context, string, ssh.File) error { panic("not used") }
func (k *kubeVIPHosts) Download(context.Context, string, string) ([]byte, error) {
	panic("not used")
}

// kubeconfigOf is the host file a kube-vip manifest mounts as its
// kubeconfig.
func kubeconfigOf(t *testing.T, manifest []byte) string {
	t.Helper()
	var pod struct {
		Spec struct {
			Volumes []struct {
				HostPath struct{ Path string } `yaml:"hostPath"`
			}
		}
	}
	if err := yaml.Unmarshal(manifest, &pod); err != nil || len(pod.Spec.Volumes) != 1 {
		t.Fatalf("kube-vip manifest: %v\n%s", err, manifest)
	}
	return pod.Spec.Volumes[0].HostPath.Path
}

// TestKubeVIPSwitchesToAdminConf follows kube-vip's first master through
// a build and its reruns: kube-vip reads super-admin.conf while kubeadm
// init runs, admin.conf from the moment init has succeeded (kubeadm-init
// calls AfterJoin), and a rerun finds every manifest as due and writes
// nothing. A run killed between init and the switch leaves the switch to
// the next run's probe. Other masters read admin.conf throughout.
func TestKubeVIPSwitchesToAdminConf(t *testing.T) {
	c, _, err := inventory.Load("../examples/kube-vip.yaml")
	if err != nil {
		t.Fatal(err)
	}
	masters := []string{"master-1", "master-2", "master-3"}
	type step struct {
		name string
		// done are the masters kubeha marked control-plane nodes.
		done []string
		// do is the phase's Probe then Run ("apply"), or AfterJoin on a
		// master ("after init master-1").
		do string
		// pending is what the probe (or a probe right after do) finds.
		pending []string
		// kubeconfig is each master's kube-vip kubeconfig afterwards.
		kubeconfig map[string]string
		waits      map[string]int
	}
	fresh := map[string]string{"master-1": lb.SuperAdminConf, "master-2": lb.AdminConf, "master-3": lb.AdminConf}
	switched := map[string]string{"master-1": lb.AdminConf, "master-2": lb.AdminConf, "master-3": lb.AdminConf}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a build, then a rerun", []step{
			{name: "first apply", do: "apply", pending: masters, kubeconfig: fresh},
			{name: "a rerun before init writes nothing", do: "apply", kubeconfig: fresh},
			{name: "kubeadm init succeeded", done: masters[:1], do: "after init master-1", kubeconfig: switched, waits: map[string]int{"master-1": 1}},
			{name: "master-2 joined", done: masters[:2], do: "after join master-2", kubeconfig: switched, waits: map[string]int{"master-1": 1}},
			{name: "a rerun writes nothing", done: masters, do: "apply", kubeconfig: switched, waits: map[string]int{"master-1": 1}},
		}},
		{"killed between init and the switch", []step{
			{name: "first apply", do: "apply", pending: masters, kubeconfig: fresh},
			{name: "the next run's probe finds the switch due", done: masters[:1], do: "apply", pending: masters[:1], kubeconfig: switched, waits: map[string]int{"master-1": 1}},
			{name: "kubeadm-init finds the cluster: no AfterJoin; a rerun writes nothing", done: masters[:1], do: "apply", kubeconfig: switched, waits: map[string]int{"master-1": 1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := &kubeVIPHosts{files: map[string]map[string][]byte{}, waits: map[string]int{}}
			log := events.Emitter{Sink: events.Discard}
			l := &ConfigureLoadBalancer{}
			for _, st := range tt.steps {
				// Each step is a run of its own: facts are gathered anew.
				facts := &FactStore{}
				for _, m := range masters {
					facts.put(m, &Facts{Interface: "eth1", ControlPlaneDone: slices.Contains(st.done, m)})
				}
				env := &Env{Cluster: c, Hosts: hosts, Facts: facts, Secrets: &events.Secrets{}, Log: log, Concurrency: 4, results: &hostResults{},
					ControlPlane: controlplane.New(c, hosts, &events.Secrets{}, t.TempDir()).For(log)}
				ctx := context.Background()
				switch st.do {
				case "apply":
					w, err := l.Probe(ctx, env)
					if err != nil {
						t.Fatalf("%s: probe: %v", st.name, err)
					}
					if !slices.Equal(w.Pending, st.pending) {
						t.Fatalf("%s: pending %v (%v), want %v", st.name, w.Pending, w.Reasons, st.pending)
					}
					for _, h := range w.Pending {
						if want := "write " + lb.KubeVIPManifestPath; w.Reasons[h] != want {
							t.Errorf("%s: %s: reason %q, want %q", st.name, h, w.Reasons[h], want)
						}
					}
					if err := l.Run(ctx, env, w); err != nil {
						t.Fatalf("%s: run: %v", st.name, err)
					}
				default:
					h, _ := c.Host(st.do[strings.LastIndex(st.do, " ")+1:])
					if err := l.AfterJoin(ctx, env, h, true); err != nil {
						t.Fatalf("%s: AfterJoin: %v", st.name, err)
					}
				}
				for _, m := range masters {
					got := kubeconfigOf(t, hosts.files[m][lb.KubeVIPManifestPath])
					if got != st.kubeconfig[m] {
						t.Errorf("%s: %s's kube-vip reads %s, want %s", st.name, m, got, st.kubeconfig[m])
					}
				}
				waits := st.waits
				if waits == nil {
					waits = map[string]int{}
				}
				if !maps.Equal(hosts.waits, waits) {
					t.Errorf("%s: waits for the endpoint %v, want %v", st.name, hosts.waits, waits)
				}
				// Whatever the step did, the phase now finds nothing to do.
				w, err := l.Probe(ctx, env)
				if err != nil || !w.Done() {
					t.Errorf("%s: a probe after it: %v %v %v", st.name, w.Pending, w.Reasons, err)
				}
			}
			if a, b := hosts.files["master-1"][lb.KubeVIPManifestPath], hosts.files["master-2"][lb.KubeVIPManifestPath]; string(a) != string(b) {
				t.Errorf("the first master's manifest ends unlike the others':\n%s\n---\n%s", a, b)
			}
		})
	}
}

// TestKubeVIPRestartIsNoChange: a kube-vip that kubeha restarted after
// kubeadm renewed admin.conf (its manifest annotated as
// controlplane.RestartKubeVIP leaves it) is as due: the probe finds
// nothing to do, and a run on every master (forced, or one the journal
// does not confirm) writes nothing and waits for nothing, so no kube-vip
// restarts again and the VIP stays. A change of kube-vip's configuration
// is still written everywhere, the restart's annotation kept where it
// was.
func TestKubeVIPRestartIsNoChange(t *testing.T) {
	c, _, err := inventory.Load("../examples/kube-vip.yaml")
	if err != nil {
		t.Fatal(err)
	}
	masters := []string{"master-1", "master-2", "master-3"}
	const value = "2026-11-30T00:00:00Z"
	hosts := &kubeVIPHosts{files: map[string]map[string][]byte{}, waits: map[string]int{}}
	log := events.Emitter{Sink: events.Discard}
	l := &ConfigureLoadBalancer{}
	ctx := context.Background()
	run := func(c *inventory.Cluster, force bool) Work {
		t.Helper()
		facts := &FactStore{}
		for _, m := range masters {
			facts.put(m, &Facts{Interface: "eth1", ControlPlaneDone: true})
		}
		env := &Env{Cluster: c, Hosts: hosts, Facts: facts, Secrets: &events.Secrets{}, Log: log, Concurrency: 4, results: &hostResults{},
			ControlPlane: controlplane.New(c, hosts, &events.Secrets{}, t.TempDir()).For(log)}
		w, err := l.Probe(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		probed := w
		if force {
			w = w.AllPending("forced")
		}
		if err := l.Run(ctx, env, w); err != nil {
			t.Fatal(err)
		}
		return probed
	}
	run(c, false)
	clear(hosts.waits)
	restarted := controlplane.Restarted(hosts.files["master-2"][lb.KubeVIPManifestPath], value)
	hosts.files["master-2"][lb.KubeVIPManifestPath] = restarted

	if w := run(c, true); !w.Done() {
		t.Errorf("after master-2's restart the probe finds work: %v %v", w.Pending, w.Reasons)
	}
	if got := hosts.files["master-2"][lb.KubeVIPManifestPath]; string(got) != string(restarted) {
		t.Errorf("a forced run wrote master-2's manifest again:\n%s", got)
	}
	if len(hosts.waits) > 0 {
		t.Errorf("a forced run waited for the endpoint: %v", hosts.waits)
	}

	changed := c.DeepCopy()
	changed.Spec.LoadBalancer.Images.KubeVIP = "registry.example/kube-vip:v1.2.4"
	if w := run(changed, false); !slices.Equal(w.Pending, masters) {
		t.Errorf("a new image: pending %v, want every master", w.Pending)
	}
	m1, m2 := hosts.files["master-1"][lb.KubeVIPManifestPath], hosts.files["master-2"][lb.KubeVIPManifestPath]
	if !strings.Contains(string(m1), "registry.example/kube-vip:v1.2.4") || strings.Contains(string(m1), controlplane.RestartedAnnotation) {
		t.Errorf("master-1's new manifest:\n%s", m1)
	}
	if string(m2) != string(controlplane.Restarted(m1, value)) {
		t.Errorf("master-2's new manifest is not master-1's with the restart kept:\n%s", m2)
	}
}

// TestKubeVIPRestartedScript reads the restart's value from manifests as
// the restart leaves them: none before any restart or without a manifest,
// the last restart's after two.
func TestKubeVIPRestartedScript(t *testing.T) {
	m, err := lb.KubeVIP{Image: "ghcr.io/kube-vip/kube-vip:v1.2.3", Interface: "eth0", VIP: "10.0.0.100", Port: 6443, Kubeconfig: lb.AdminConf}.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		manifest []byte
		want     string
	}{
		{"no manifest", nil, ""},
		{"never restarted", m, ""},
		{"restarted", controlplane.Restarted(m, "2026-11-30T00:00:00Z"), "2026-11-30T00:00:00Z\n"},
		{"restarted twice", controlplane.Restarted(controlplane.Restarted(m, "T1"), "v1.37.2"), "v1.37.2\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := readRestart(tt.manifest)
			if err != nil || res.Stdout != tt.want {
				t.Errorf("%q %v, want %q", res.Stdout, err, tt.want)
			}
		})
	}
}

// TestKubeVIPRender: kubeha render shows the manifests of a cluster to be
// made (the first master on super-admin.conf), or of one that exists.
func TestKubeVIPRender(t *testing.T) {
	c, _, err := inventory.Load("../examples/kube-vip.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name        string
		initialised bool
		first       string
	}{
		{"before init", false, lb.SuperAdminConf},
		{"after init", true, lb.AdminConf},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files, err := (&ConfigureLoadBalancer{}).Files(context.Background(), OfflineView{C: c, Initialised: tt.initialised})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 3 {
				t.Fatalf("%d files, want one manifest per master", len(files))
			}
			for _, f := range files {
				want := lb.AdminConf
				if f.Host == "master-1" {
					want = tt.first
				}
				if f.Path != lb.KubeVIPManifestPath || f.Secret || kubeconfigOf(t, f.Content) != want {
					t.Errorf("%s %s secret %v kubeconfig %s, want %s", f.Host, f.Path, f.Secret, kubeconfigOf(t, f.Content), want)
				}
			}
		})
	}
}

// TestKubeVIPSwitchIsAJoinHook: kubeadm-init calls every registered
// phase's AfterJoin once init has succeeded; the load balancer's must be
// among them, before the cni phase's, whose kubectl goes through the
// endpoint that the switch restarts kube-vip for.
func TestKubeVIPSwitchIsAJoinHook(t *testing.T) {
	var hooks []string
	for _, p := range Registry() {
		if _, ok := p.(JoinHooker); ok {
			hooks = append(hooks, p.ID())
		}
	}
	lbAt, cniAt := slices.Index(hooks, "load-balancer"), slices.Index(hooks, "cni")
	if lbAt < 0 || cniAt < 0 || lbAt > cniAt {
		t.Fatalf("join hooks in order %v: want load-balancer's, before cni's", hooks)
	}
}

// TestKubeVIPCleanUp: kubeha reset removes kube-vip's manifest and the VIP
// from whichever interface still holds it, on every master (kubeadm reset,
// which runs first, may have stopped kube-vip too hard to drop the VIP);
// the workers never had either.
func TestKubeVIPCleanUp(t *testing.T) {
	c, _, err := inventory.Load("../examples/kube-vip.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hosts := &scriptedHosts{answers: map[string]string{}, scripts: map[string]string{}, stdin: map[string]string{}}
	env := &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Secrets: &events.Secrets{}, Log: events.Emitter{Sink: events.Discard},
		Concurrency: 4, results: &hostResults{}}
	if err := (&ConfigureLoadBalancer{}).CleanUp(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	for _, h := range c.Spec.Hosts {
		s, ran := hosts.scripts[h.Name+" remove load balancer"]
		if ran != (h.Role == inventory.RoleMaster) {
			t.Errorf("%s (%s): clean-up ran: %v", h.Name, h.Role, ran)
			continue
		}
		for _, want := range []string{"rm -f ", "'" + lb.KubeVIPManifestPath + "'", "awk -v vip='192.168.20.150'", `ip addr del "$addr" dev "$dev"`,
			"still_present 'the VIP on an interface'"} {
			if ran && !strings.Contains(s, want) {
				t.Errorf("%s: the clean-up lacks %q:\n%s", h.Name, want, s)
			}
		}
	}
}

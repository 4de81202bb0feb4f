package phases

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
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

package controlplane

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/scripts"
)

// freePort is a TCP port on 127.0.0.1 nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBackendStatesRealHAProxy runs lb-backend against a real haproxy with
// kubeha's rendered config in front of two TLS "apiservers": a drained
// backend gets no new connection and, its checks off, stays DRAIN when its
// apiserver stops (marked down, haproxy would cut its connections);
// ready hands it back to the checks. The stats password never shows.
func TestBackendStatesRealHAProxy(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy missing in CI (apt-get install haproxy)")
		}
		t.Skip("haproxy not installed")
	}
	var apiservers []*httptest.Server
	var backends []lb.Backend
	for _, name := range []string{"m1", "m2"} {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(name)) }))
		t.Cleanup(s.Close)
		apiservers = append(apiservers, s)
		addr := s.Listener.Addr().(*net.TCPAddr)
		backends = append(backends, lb.Backend{Name: name, Address: "127.0.0.1", Port: addr.Port})
	}
	const password = "s3cretStatsPassw0rdXYZ"
	front, stats := freePort(t), freePort(t)
	cfg, err := lb.HAProxy{Mode: inventory.ModeKeepalivedHAProxy, Binds: []string{"127.0.0.1:" + strconv.Itoa(front)}, Balance: "roundrobin",
		Backends: backends, InterMS: 100, Fall: 2, Rise: 2, StatsPort: stats, StatsUser: "kubeha", StatsPassword: password}.Render()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "haproxy.cfg")
	// No syslog socket here.
	cfg = []byte(strings.Replace(string(cfg), "log /dev/log local0 notice", "log stderr local0 emerg", 1))
	if err := os.WriteFile(config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	hp := exec.Command("haproxy", "-db", "-f", config)
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hp.Process.Kill(); hp.Wait() })

	set := func(server, state string) (string, error) {
		s := scripts.Render("controlplane/lb-backend", struct {
			Server, State, Config string
			Port                  int
		}{server, state, config, stats})
		out, err := exec.Command("sh", "-c", s.String()).CombinedOutput()
		if strings.Contains(string(out), password) {
			t.Errorf("the stats password in the script's output:\n%s", out)
		}
		return strings.TrimSpace(string(out)), err
	}
	// Which apiserver answers a new connection through haproxy.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: apiservers[0].Client().Transport.(*http.Transport).TLSClientConfig}}
	answers := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			resp, err := client.Get("https://127.0.0.1:" + strconv.Itoa(front) + "/")
			if err != nil {
				got["error"]++
				continue
			}
			var b strings.Builder
			buf := make([]byte, 16)
			k, _ := resp.Body.Read(buf)
			b.Write(buf[:k])
			resp.Body.Close()
			got[b.String()]++
		}
		return got
	}
	deadline := time.Now().Add(10 * time.Second)
	for got := answers(4); got["m1"] == 0 || got["m2"] == 0; got = answers(4) {
		if time.Now().After(deadline) {
			t.Fatalf("haproxy never balanced over both backends: %v", got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if out, err := set("m1", BackendDrain); err != nil || out != "m1: DRAIN" {
		t.Fatalf("drain m1: %v %q", err, out)
	}
	if got := answers(10); got["m2"] != 10 {
		t.Errorf("new connections after m1 was drained: %v, want all on m2", got)
	}
	// m1's apiserver stops: with its checks off it is not marked down.
	apiservers[0].Close()
	time.Sleep(600 * time.Millisecond)
	if out, err := set("m1", BackendDrain); err != nil || out != "m1: DRAIN" {
		t.Errorf("m1 drained again after its apiserver stopped: %v %q", err, out)
	}
	// ready hands m1 back to its checks, which find it down.
	if out, err := set("m1", BackendReady); err != nil || (out != "m1: UP" && out != "m1: DOWN" && !strings.HasPrefix(out, "m1: UP ") && !strings.HasPrefix(out, "m1: DOWN ")) {
		t.Errorf("ready m1: %v %q", err, out)
	}
	// A server down already may be drained: it stays out, unchecked.
	time.Sleep(500 * time.Millisecond)
	if out, err := set("m1", BackendDrain); err != nil || out != "m1: DOWN" {
		t.Errorf("drain m1, down: %v %q", err, out)
	}
	if out, err := set("m2", BackendReady); err != nil || out != "m2: UP" {
		t.Errorf("ready m2 (never drained): %v %q", err, out)
	}
	if out, err := set("m9", BackendDrain); err == nil || out != "haproxy here refused to drain m9: st=ERRP" {
		t.Errorf("drain of a server haproxy does not have: %v %q", err, out)
	}
	// A config from before the admin form.
	hp.Process.Kill()
	hp.Wait()
	os.WriteFile(config, []byte(strings.Replace(string(cfg), "    stats admin if TRUE\n", "", 1)), 0o600)
	hp = exec.Command("haproxy", "-db", "-f", config)
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if out, err := set("m2", BackendDrain); err == nil || out != "haproxy here does not let kubeha drain m2: its config predates the stats admin form; run kubeha apply to render the load balancer again" {
		t.Errorf("drain without the admin form: %v %q", err, out)
	}
	// A wrong password: refused, and said without the password.
	os.WriteFile(config, []byte(strings.Replace(string(cfg), "stats auth kubeha:"+password, "stats auth kubeha:wrong"+password, 1)), 0o600)
	if out, err := set("m1", BackendDrain); err == nil || out != "haproxy here refused the stats password of "+config+" (HTTP 401): run kubeha apply to render the load balancer again" {
		t.Errorf("drain with a wrong password: %v %q", err, out)
	}
	hp.Process.Kill()
	hp.Wait()
	os.WriteFile(config, cfg, 0o600)
	// curl says why first.
	if out, err := set("m1", BackendReady); err == nil || out[strings.LastIndex(out, "\n")+1:] != "haproxy here did not answer the ehlth of m1 on http://127.0.0.1:"+strconv.Itoa(stats)+"/stats" {
		t.Errorf("ready without a haproxy: %v %q", err, out)
	}
	os.WriteFile(config, []byte("global\n"), 0o600)
	if out, err := set("m1", BackendDrain); err == nil || out != "no kubeha stats user in "+config+": run kubeha apply to render the load balancer" {
		t.Errorf("drain without a stats user: %v %q", err, out)
	}
}

// TestRenewalDrainsTheApiserver: a master's apiserver is drained on every
// haproxy before its restart and handed back after it, on a failed restart
// too; with one master nothing is drained.
func TestRenewalDrainsTheApiserver(t *testing.T) {
	restart := []string{"restart kube-controller-manager, kube-scheduler", "haproxy: drain m1", "restart kube-apiserver"}
	cases := []struct {
		name    string
		masters int
		failing string
		want    map[string][]string
	}{
		{"renewed", 2, "", map[string][]string{
			"m1": append(append([]string{}, restart...), "wait for the apiserver", "wait for etcd", "haproxy: ready m1"),
			"m2": {"haproxy: drain m1", "haproxy: ready m1"},
		}},
		{"the apiserver's restart fails", 2, "restart kube-apiserver", map[string][]string{
			"m1": append(append([]string{}, restart...), "haproxy: ready m1"),
			"m2": {"haproxy: drain m1", "haproxy: ready m1"},
		}},
		{"one master", 1, "", map[string][]string{
			"m1": {"restart kube-controller-manager, kube-scheduler", "restart kube-apiserver", "wait for the apiserver", "wait for etcd"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := masters(tc.masters)
			cl.Spec.LoadBalancer.Mode, cl.Spec.LoadBalancer.VIP = inventory.ModeKeepalivedHAProxy, "10.0.0.100"
			hosts := &recordingHosts{failing: map[string]bool{tc.failing: tc.failing != ""}}
			err := newClient(cl, hosts, &events.Secrets{}).restartRenewed(context.Background(), cl.Masters()[0], "2026-11-30T00:00:00Z")
			if (err != nil) != (tc.failing != "") {
				t.Fatalf("restartRenewed: %v", err)
			}
			hosts.checkRan(t, tc.want, "m1", "m2")
		})
	}
}

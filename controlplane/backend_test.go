package controlplane

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// haproxyUnderTest is a real haproxy with kubeha's rendered config, on
// 127.0.0.1, in front of a TLS "apiserver" per master name, each answering
// every request with its name.
type haproxyUnderTest struct {
	apiservers []*httptest.Server
	// cfg is the rendered config; config is where haproxy reads it.
	cfg          []byte
	config       string
	front, stats int
	cmd          *exec.Cmd
}

// testStatsPassword is the stats password of haproxyUnderTest: no script
// output may show it.
const testStatsPassword = "s3cretStatsPassw0rdXYZ"

// startHAProxy starts a haproxyUnderTest, stopped at the test's end; it
// skips the test where haproxy is not installed (outside CI).
func startHAProxy(t *testing.T, names ...string) *haproxyUnderTest {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy missing in CI (apt-get install haproxy)")
		}
		t.Skip("haproxy not installed")
	}
	h := &haproxyUnderTest{front: freePort(t), stats: freePort(t)}
	var backends []lb.Backend
	for _, name := range names {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(name)) }))
		t.Cleanup(s.Close)
		h.apiservers = append(h.apiservers, s)
		addr := s.Listener.Addr().(*net.TCPAddr)
		backends = append(backends, lb.Backend{Name: name, Address: "127.0.0.1", Port: addr.Port})
	}
	cfg, err := lb.HAProxy{Mode: inventory.ModeKeepalivedHAProxy, Binds: []string{"127.0.0.1:" + strconv.Itoa(h.front)}, Balance: "roundrobin",
		Backends: backends, InterMS: 100, Fall: 2, Rise: 2, StatsPort: h.stats, StatsUser: "kubeha", StatsPassword: testStatsPassword}.Render()
	if err != nil {
		t.Fatal(err)
	}
	// No syslog socket here.
	h.cfg = []byte(strings.Replace(string(cfg), "log /dev/log local0 notice", "log stderr local0 emerg", 1))
	h.config = filepath.Join(t.TempDir(), "haproxy.cfg")
	h.start(t, h.cfg)
	t.Cleanup(h.stop)
	return h
}

// start writes cfg where haproxy reads its config and starts it.
func (h *haproxyUnderTest) start(t *testing.T, cfg []byte) {
	t.Helper()
	if err := os.WriteFile(h.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command("haproxy", "-db", "-f", h.config)
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// stop stops haproxy; stopped already, it does nothing.
func (h *haproxyUnderTest) stop() {
	if h.cmd.ProcessState == nil {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	}
}

// TestBackendStatesRealHAProxy runs lb-backend against a real haproxy with
// kubeha's rendered config in front of two TLS "apiservers": a drained
// backend gets no new connection and, its checks off, stays DRAIN when its
// apiserver stops (marked down, haproxy would cut its connections);
// ready hands it back to the checks. The stats password never shows.
func TestBackendStatesRealHAProxy(t *testing.T) {
	h := startHAProxy(t, "m1", "m2")
	apiservers, config, stats, front, cfg, password := h.apiservers, h.config, h.stats, h.front, h.cfg, testStatsPassword

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
	h.stop()
	h.start(t, []byte(strings.Replace(string(cfg), "    stats admin if TRUE\n", "", 1)))
	time.Sleep(300 * time.Millisecond)
	if out, err := set("m2", BackendDrain); err == nil || out != "haproxy here does not let kubeha drain m2: its config predates the stats admin form; run kubeha apply to render the load balancer again" {
		t.Errorf("drain without the admin form: %v %q", err, out)
	}
	// A wrong password: refused, and said without the password.
	os.WriteFile(config, []byte(strings.Replace(string(cfg), "stats auth kubeha:"+password, "stats auth kubeha:wrong"+password, 1)), 0o600)
	if out, err := set("m1", BackendDrain); err == nil || out != "haproxy here refused the stats password of "+config+" (HTTP 401): run kubeha apply to render the load balancer again" {
		t.Errorf("drain with a wrong password: %v %q", err, out)
	}
	h.stop()
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
// too; with one master nothing is drained, and it is still handed back
// (which clears a drain or maintenance set outside kubeha).
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
			"m1": {"restart kube-controller-manager, kube-scheduler", "restart kube-apiserver", "wait for the apiserver", "wait for etcd", "haproxy: ready m1"},
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

// TestBackendsRealHAProxy reads, with lb-backends, how a real haproxy with
// kubeha's rendered config sees its apiservers in each state status tells
// apart: up, drained by kubeha (checks off), failing its checks, checks
// turned off and maintenance set by hand; and what it says when haproxy
// refuses the password or does not answer. The stats password never
// shows.
func TestBackendsRealHAProxy(t *testing.T) {
	h := startHAProxy(t, "m1", "m2", "m3")
	read := func() ([]Backend, string, error) {
		s := scripts.Render("controlplane/lb-backends", struct {
			Config string
			Port   int
		}{h.config, h.stats})
		var stdout, stderr strings.Builder
		cmd := exec.Command("sh", "-c", s.String())
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if strings.Contains(stdout.String()+stderr.String(), testStatsPassword) {
			t.Errorf("the stats password in the script's output:\n%s\n%s", stdout.String(), stderr.String())
		}
		if err != nil {
			return nil, stderr.String(), err
		}
		bs, err := parseBackends("haproxy's stats", stdout.String())
		return bs, stderr.String(), err
	}
	// haproxy's checks move in steps of 100ms: wait for want.
	wait := func(what string, want ...Backend) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, errs, err := read()
			if err == nil && slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v %s\n%+v\nwant\n%+v", what, err, errs, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// admin does action to server through the stats page's admin form, as
	// an operator's browser would.
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	admin := func(server, action string) {
		t.Helper()
		form := url.Values{"s": {server}, "action": {action}, "b": {"kube-apiserver"}}
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(h.stats)+"/stats", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("kubeha", testStatsPassword)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, ";st=DONE") {
			t.Fatalf("%s %s by hand: %s, %s", action, server, resp.Status, strings.ReplaceAll(loc, testStatsPassword, "***"))
		}
	}

	wait("all up", Backend{Server: "m1", State: "UP", Check: "L7OK"}, Backend{Server: "m2", State: "UP", Check: "L7OK"}, Backend{Server: "m3", State: "UP", Check: "L7OK"})
	drain := scripts.Render("controlplane/lb-backend", struct {
		Server, State, Config string
		Port                  int
	}{"m1", BackendDrain, h.config, h.stats})
	if out, err := exec.Command("sh", "-c", drain.String()).CombinedOutput(); err != nil {
		t.Fatalf("drain m1: %v\n%s", err, out)
	}
	h.apiservers[1].Close()
	admin("m3", "dhlth")
	wait("m1 drained, m2's apiserver stopped, m3's checks off", Backend{Server: "m1", State: "DRAIN"}, Backend{Server: "m2", State: "DOWN", Check: "L4CON"}, Backend{Server: "m3", State: "no check"})
	admin("m3", "maint")
	wait("m3 in maintenance", Backend{Server: "m1", State: "DRAIN"}, Backend{Server: "m2", State: "DOWN", Check: "L4CON"}, Backend{Server: "m3", State: "MAINT"})

	lastLine := func(s string) string {
		s = strings.TrimRight(s, "\n")
		return s[strings.LastIndex(s, "\n")+1:]
	}
	os.WriteFile(h.config, []byte(strings.Replace(string(h.cfg), "stats auth kubeha:"+testStatsPassword, "stats auth kubeha:wrong"+testStatsPassword, 1)), 0o600)
	if got, errs, err := read(); err == nil || lastLine(errs) != "haproxy here refused the stats password of "+h.config+" (HTTP 401): run kubeha apply to render the load balancer again" {
		t.Errorf("a wrong password: %v %+v %q", err, got, errs)
	}
	os.WriteFile(h.config, h.cfg, 0o600)
	h.stop()
	// curl says why first.
	if got, errs, err := read(); err == nil || lastLine(errs) != "haproxy here did not answer on http://127.0.0.1:"+strconv.Itoa(h.stats)+"/stats" {
		t.Errorf("no haproxy: %v %+v %q", err, got, errs)
	}
}

// TestBackends reads lb-backends' lines as the Client does, a check in
// progress as its last result; a line of another shape is an error that
// names the host.
func TestBackends(t *testing.T) {
	tests := []backendCase{
		{name: "states", stdout: "m1\tUP\tL7OK\nm2\tDRAIN\t\nm3\tUP 1/3\t* L7STS\n",
			want: []Backend{{Server: "m1", State: "UP", Check: "L7OK"}, {Server: "m2", State: "DRAIN"}, {Server: "m3", State: "UP 1/3", Check: "L7STS"}}},
		{name: "no server", stdout: "", want: []Backend{}},
		{name: "a line of another shape", stdout: "m1 UP L7OK\n",
			err: `lb1: haproxy's stats: "m1 UP L7OK" is not a server, its status and its last check`},
	}
	runBackendCases(t, tests, "read haproxy's backends", func(c *Client) ([]Backend, error) { return c.Backends(context.Background(), "lb1") })
}

// backendCase is one answer of a backends script (stdout) and what the
// Client makes of it: the backends, or the error's whole text.
type backendCase struct {
	name, stdout string
	want         []Backend
	err          string
}

// runBackendCases gives each case's stdout as the answer to the step the
// Client runs under that name, and compares what read returns.
func runBackendCases(t *testing.T, tests []backendCase, step string, read func(*Client) ([]Backend, error)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := &recordingHosts{stdout: map[string]string{step: tt.stdout}}
			got, err := read(newClient(masters(3), hosts, &events.Secrets{}))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v %+v, want %+v", err, got, tt.want)
			}
		})
	}
}

// TestReachBackends reads lb-reach's lines, which come in the order the
// connects ended, as the Client does: in nginx.conf's order (the masters'),
// each with the address kubeha rendered; anything but one UP or DOWN line
// per master is an error that names the host.
func TestReachBackends(t *testing.T) {
	tests := []backendCase{
		{name: "all up, in the order they ended", stdout: "m3\tUP\tconnected\nm1\tUP\tconnected\nm2\tUP\tconnected\n",
			want: []Backend{{Server: "m1", State: "UP", Check: "connected", Address: "10.0.0.1:6443"},
				{Server: "m2", State: "UP", Check: "connected", Address: "10.0.0.2:6443"},
				{Server: "m3", State: "UP", Check: "connected", Address: "10.0.0.3:6443"}}},
		{name: "refused and silent", stdout: "m1\tUP\tconnected\nm2\tDOWN\tConnection refused\nm3\tDOWN\tno answer within 2 s\n",
			want: []Backend{{Server: "m1", State: "UP", Check: "connected", Address: "10.0.0.1:6443"},
				{Server: "m2", State: "DOWN", Check: "Connection refused", Address: "10.0.0.2:6443"},
				{Server: "m3", State: "DOWN", Check: "no answer within 2 s", Address: "10.0.0.3:6443"}}},
		{name: "a master without an answer", stdout: "m1\tUP\tconnected\nm3\tUP\tconnected\n",
			err: "w1: the connects to the apiservers: no answer for m2"},
		{name: "a server that is not a master", stdout: "m1\tUP\tconnected\nm2\tUP\tconnected\nm3\tUP\tconnected\nm4\tUP\tconnected\n",
			err: `w1: the connects to the apiservers: "m4" is not a master`},
		{name: "a master twice", stdout: "m1\tUP\tconnected\nm1\tDOWN\tConnection refused\n",
			err: "w1: the connects to the apiservers: m1 twice"},
		{name: "a state of haproxy's", stdout: "m1\tDRAIN\t\n",
			err: `w1: the connects to the apiservers: m1 is "DRAIN", not UP or DOWN`},
		{name: "a line of another shape", stdout: "m1 UP connected\n",
			err: `w1: the connects to the apiservers: "m1 UP connected" is not a server, its status and its last check`},
	}
	runBackendCases(t, tests, "connect to the apiservers", func(c *Client) ([]Backend, error) { return c.ReachBackends(context.Background(), "w1") })
}

// TestReachRealConnects runs lb-reach as a host would, against an
// apiserver that listens and one whose port is closed, on IPv4 and IPv6
// loopback: the first UP, the second DOWN with the kernel's reason.
func TestReachRealConnects(t *testing.T) {
	for _, tool := range []string{"bash", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here: %v", tool, err)
		}
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Skipf("no %s here: %v", host, err)
			}
			defer l.Close()
			closed, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			closedPort := closed.Addr().(*net.TCPAddr).Port
			closed.Close()
			want := []lb.Backend{
				{Name: "m1", Address: host, Port: l.Addr().(*net.TCPAddr).Port},
				{Name: "m2", Address: host, Port: closedPort},
			}
			s := scripts.Render("controlplane/lb-reach", struct {
				Secs     int
				Backends []lb.Backend
			}{ReachSeconds, want})
			out, err := exec.Command("sh", "-c", s.String()).Output()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got, err := orderReached(want, string(out))
			if err != nil {
				t.Fatal(err)
			}
			if got[0].State != "UP" || got[0].Check != "connected" || got[1].State != "DOWN" || got[1].Check != "Connection refused" {
				t.Errorf("got %+v\nfrom %q", got, out)
			}
		})
	}
}

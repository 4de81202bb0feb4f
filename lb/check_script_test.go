package lb

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCheckScriptAsksHAProxy runs the rendered check_apiserver.sh against
// the real haproxy, with the rendered haproxy.cfg, in front of one
// apiserver stand-in: the script passes while haproxy's health checks hold
// the apiserver up, however slow it is to answer (an apiserver under load
// must not move the VIP), and fails when they take it out and when haproxy
// is gone; an haproxy that takes the connection and does not answer in
// time (starved of CPU) passes it; and an haproxy still on a configuration
// from before the monitor URI passes it while an apiserver answers through
// it.
func TestCheckScriptAsksHAProxy(t *testing.T) {
	for _, p := range []string{"haproxy", "curl"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing in CI (.ci/run installs it)", p)
			}
			t.Skipf("%s not installed", p)
		}
	}
	// The apiserver's /readyz: its delay and status change as the test goes.
	var delayMS, status atomic.Int64
	delayMS.Store(1500)
	status.Store(http.StatusOK)
	apiserver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(delayMS.Load()) * time.Millisecond)
		w.WriteHeader(int(status.Load()))
	}))
	defer apiserver.Close()
	host, port, _ := net.SplitHostPort(apiserver.Listener.Addr().String())
	backendPort, _ := strconv.Atoi(port)
	frontend, stats := freePort(t), freePort(t)

	dir := t.TempDir()
	cfg, err := HAProxy{Mode: "keepalived-haproxy", Binds: []string{"127.0.0.1:" + strconv.Itoa(frontend)}, Balance: "roundrobin",
		Backends: []Backend{{Name: "m1", Address: host, Port: backendPort}},
		InterMS:  HealthInterMS, Fall: HealthFall, Rise: HealthRise, StatsPort: stats, StatsUser: "kubeha", StatsPassword: "not-used-here"}.Render()
	if err != nil {
		t.Fatal(err)
	}
	script, err := CheckScript{LBPort: frontend, StatsPort: stats}.Render()
	if err != nil {
		t.Fatal(err)
	}
	cfgPath, scriptPath := filepath.Join(dir, "haproxy.cfg"), filepath.Join(dir, "check_apiserver.sh")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(scriptPath, script, 0o755); err != nil {
		t.Fatal(err)
	}
	stopHAProxy := startHAProxy(t, cfgPath)
	defer stopHAProxy()

	// check runs the script as keepalived does: its exit status and stderr.
	check := func() (bool, string) {
		var stderr strings.Builder
		cmd := exec.Command("sh", scriptPath)
		cmd.Stderr = &stderr
		return cmd.Run() == nil, strings.TrimSpace(stderr.String())
	}
	// waitCheck polls the script until it says want, for up to 15 s (the
	// health checks need fall or rise rounds of inter to change their mind).
	waitCheck := func(what string, want bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			ok, msg := check()
			if ok == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the check script still says ok=%v (%q), want ok=%v", what, ok, msg, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	waitCheck("a slow apiserver (1.5 s)", true)
	// The slowness is real: a request through haproxy takes longer than
	// the 1 s that the check through haproxy (before issue 18) allowed.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	start := time.Now()
	resp, err := client.Get("https://127.0.0.1:" + strconv.Itoa(frontend) + "/readyz")
	if err != nil {
		t.Fatalf("through haproxy: %v", err)
	}
	resp.Body.Close()
	if took := time.Since(start); took < time.Second {
		t.Fatalf("a request through haproxy took %v: the apiserver stand-in is not slow", took)
	}
	// Held up for several rounds of health checks, the check still passes.
	for range 5 {
		if ok, msg := check(); !ok {
			t.Fatalf("a slow but healthy apiserver failed the check: %s", msg)
		}
		time.Sleep(500 * time.Millisecond)
	}

	delayMS.Store(0)
	status.Store(http.StatusInternalServerError)
	waitCheck("no apiserver ready", false)
	if _, msg := check(); !strings.HasPrefix(msg, "check_apiserver: haproxy is not running or has no apiserver up") {
		t.Errorf("the failing check says %q", msg)
	}

	status.Store(http.StatusOK)
	waitCheck("the apiserver ready again", true)

	stopHAProxy()
	if ok, msg := check(); ok || msg != "check_apiserver: haproxy is not running or has no apiserver up (127.0.0.1:"+strconv.Itoa(stats)+"/healthz answered nothing)" {
		t.Fatalf("with haproxy gone the check says ok=%v, %q", ok, msg)
	}

	// Something on the stats port takes the connection and does not
	// answer within the second: a starved haproxy. The check passes.
	var lc net.ListenConfig
	starved, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:"+strconv.Itoa(stats))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := starved.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start = time.Now()
	ok, msg := check()
	starved.Close()
	if !ok || time.Since(start) < time.Second {
		t.Fatalf("a starved haproxy: the check says ok=%v (%q) after %v, want ok after its 1 s", ok, msg, time.Since(start))
	}

	// haproxy still running a configuration from before its monitor URI,
	// between kubeha writing the script and reloading haproxy: an
	// apiserver answering through it passes the check, as before.
	var old []string
	for _, l := range strings.Split(string(cfg), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "monitor") {
			old = append(old, l)
		}
	}
	if len(old) != len(strings.Split(string(cfg), "\n"))-2 {
		t.Fatal("the rendered haproxy.cfg has no two monitor lines to take out")
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Join(old, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	delayMS.Store(0)
	defer startHAProxy(t, cfgPath)()
	waitCheck("haproxy without the monitor URI", true)
}

// startHAProxy runs the real haproxy on cfg in the foreground; the
// returned func stops it (more than once is fine) and logs its output if
// the test failed.
func startHAProxy(t *testing.T, cfg string) func() {
	t.Helper()
	cmd := exec.Command("haproxy", "-db", "-f", cfg)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("haproxy's output:\n%s", out.String())
			}
		})
	}
}

// freePort is a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

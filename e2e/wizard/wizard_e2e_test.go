//go:build e2e

// Package wizard drives the real kubeha binary's installer in tmux against
// Tier-1 hosts (real sshd), reading the screen at each step.
package wizard

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubeha/kubeha/e2e/nshosts"
	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/e2e/tmux"
	"github.com/kubeha/kubeha/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden screens")

// term is the installer's tmux session, with what its golden screens
// replace: the temp dir and the fingerprints (new host keys every run).
type term struct {
	*tmux.Term
	t   *testing.T
	dir string
	fps map[string]string // real fingerprint -> stable name, for goldens
}

var fpRE = regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`)

// golden compares a screen, with the temp dir and the fingerprints (new
// host keys every run) replaced by stable names, with testdata/name.txt.
func (tm *term) golden(name, s string) {
	tm.t.Helper()
	s = strings.ReplaceAll(s, tm.dir, "$DIR")
	s = fpRE.ReplaceAllStringFunc(s, func(fp string) string {
		if n, ok := tm.fps[fp]; ok {
			return "SHA256:<" + n + ">"
		}
		return "SHA256:<unknown>"
	})
	path := filepath.Join("testdata", name+".txt")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, []byte(s), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tm.t.Fatalf("%v (go test -tags e2e ./e2e/wizard -update)", err)
	}
	if s != string(want) {
		tm.t.Errorf("screen %s differs from %s:\n%s", name, path, s)
	}
}

// TestInstallerInTmux walks the installer through every screen against four
// Tier-1 hosts: each host's fingerprint is shown, compared with the key its
// sshd really has, and accepted; the inventory is saved and valid, and
// known_hosts holds exactly the accepted keys.
func TestInstallerInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux missing in CI (apt-get install tmux)")
		}
		t.Skip("tmux not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	key, err := sshd.NewClientKey(filepath.Join(dir, "id"), "")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"m1", "m2", "m3", "w1"}
	hosts, err := nshosts.Start(ctx, filepath.Join(dir, "hosts"), names, key.Public)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nshosts.Stop(hosts) })

	kubeha := filepath.Join(dir, "kubeha")
	build := exec.CommandContext(ctx, "go", "build", "-o", kubeha, "./cmd/kubeha")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	session := fmt.Sprintf("kh-wizard-%d", os.Getpid())
	fps := map[string]string{}
	for _, h := range hosts {
		fps[xssh.FingerprintSHA256(h.HostKey)] = h.Name
	}
	inv := filepath.Join(dir, "kubeha.yaml")
	known := filepath.Join(dir, "known_hosts")
	// An operator's terminal: CI (set when this runs in CI) is not passed
	// on, so apply after the installer shows its live view.
	shell := fmt.Sprintf("cd %s && %s tui -i %s; echo EXIT=$?; sleep 600", dir, kubeha, inv)
	tm := &term{Term: tmux.Start(t, session, shell), t: t, dir: dir, fps: fps}

	// Cluster: name, then the test's key and known_hosts file.
	tm.golden("01-cluster", tm.WaitFor("[cluster]", "cluster name", "prod"))
	tm.Keys("C-u")
	tm.Text("e2e")
	tm.Keys("Tab", "Tab", "Tab", "C-u")
	tm.Text(key.Path)
	tm.Keys("Tab", "C-u")
	tm.Text(known)
	tm.WaitFor(known)
	tm.Keys("Enter")
	tm.WaitFor("[hosts]", "none yet")

	// Hosts: each added, its key shown, checked against the real one,
	// accepted, then logged into.
	for i, h := range hosts {
		tm.Text(h.Name)
		tm.Keys("Tab")
		tm.Text(h.IP)
		if h.Name == "w1" {
			tm.Keys("Tab", "C-u")
			tm.Text("worker")
		}
		tm.Keys("Enter")
		want := xssh.FingerprintSHA256(h.HostKey)
		s := tm.WaitFor("host key " + want)
		if i == 0 {
			tm.golden("02-host-key", s)
		}
		tm.Keys("y")
		tm.WaitFor(fmt.Sprintf("%s ", h.Name), "✓ ssh ok  "+want)
	}
	tm.golden("03-hosts", tm.WaitFor("w1", "worker"))
	tm.Keys("Enter")

	// Load balancer: keepalived-haproxy asks for the VIP; an address
	// outside any host's network is still valid, a malformed one is not.
	tm.WaitFor("[load balancer]", "keepalived-haproxy", "VIP")
	tm.Keys("Tab", "Tab")
	tm.Text("10.214.0.300")
	tm.WaitFor("spec.loadBalancer.vip")
	tm.Keys("C-u")
	tm.Text("10.214.0.100")
	tm.golden("04-load-balancer", tm.WaitFor("10.214.0.100"))
	tm.Keys("Enter")
	tm.golden("05-network", tm.WaitFor("[network]", "Pod subnet", "10.244.0.0/16"))
	tm.Keys("Enter")
	tm.golden("06-review", tm.WaitFor("[review]", "VIP 10.214.0.100", "enter saves"))
	tm.Keys("Enter")
	tm.golden("07-saved", tm.WaitFor("saved", "Run `kubeha apply` on it now?"))

	// y: apply runs under the live view. These hosts have no systemd, so
	// the facts phase refuses them: the view shows the error, the hosts
	// and the command that resumes; q leaves with exit code 1.
	tm.Keys("y")
	s := tm.WaitFor("inventory saved to", "kubeha apply", "✗ facts", "failed on", "resume      kubeha apply -i "+inv, "press q to leave")
	if !strings.Contains(s, "kubeha needs systemd") || !strings.Contains(s, "log: m1") {
		t.Errorf("the failure screen lacks the reason or m1's log:\n%s", s)
	}
	tm.Keys("q")
	tm.WaitFor("EXIT=1")

	// q during a run asks, then stops it cleanly: exit code 3. m1's sshd is
	// frozen, so the run hangs connecting to it.
	if err := hosts[0].Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hosts[0].Thaw() })
	tm2 := tmux.Start(t, session+"-run", fmt.Sprintf("cd %s && %s apply -i %s; echo EXIT=$?; sleep 600", dir, kubeha, inv))
	tm2.WaitFor("facts", "✗ m2")
	tm2.Keys("q")
	tm2.WaitFor("Stop the apply?")
	tm2.Keys("y")
	tm2.WaitFor("EXIT=3")
	hosts[0].Thaw()

	c, _, err := inventory.Load(inv)
	if err != nil {
		t.Fatalf("the saved inventory: %v", err)
	}
	if len(c.Masters()) != 3 || len(c.Workers()) != 1 || c.Spec.LoadBalancer.VIP != "10.214.0.100" || c.Spec.SSH.KeyPath != key.Path {
		t.Fatalf("saved: %+v", c.Spec)
	}
	b, _ := os.ReadFile(known)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(hosts) {
		t.Fatalf("known_hosts has %d lines, want %d:\n%s", len(lines), len(hosts), b)
	}
	// The names are hashed when ssh_config says HashKnownHosts yes (as
	// Debian's /etc/ssh/ssh_config does): look each host up as ssh would.
	check, err := knownhosts.New(known)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if err := check(net.JoinHostPort(h.IP, "22"), &net.TCPAddr{IP: net.ParseIP(h.IP), Port: 22}, h.HostKey); err != nil {
			t.Errorf("known_hosts lacks %s's key: %v", h.Name, err)
		}
	}
	out, err := exec.Command(kubeha, "inventory", "validate", "-i", inv).CombinedOutput()
	if err != nil {
		t.Fatalf("kubeha inventory validate: %v %s", err, out)
	}
}

package nshosts

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/ssh"
)

// TestHosts starts three Tier-1 hosts and proves what tests built on them
// rely on: reachable over SSH with their own host keys, their own hostname,
// and files written on one invisible on the others; Stop leaves nothing.
func TestHosts(t *testing.T) {
	if err := sshd.Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	key, err := sshd.NewClientKey(filepath.Join(dir, "id"), "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	hosts, err := Start(ctx, filepath.Join(dir, "hosts"), []string{"n1", "n2", "n3"}, key.Public)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3 hosts SSH-ready in %v", time.Since(start).Round(time.Millisecond))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			Stop(hosts)
		}
	})
	var kh strings.Builder
	for _, h := range hosts {
		kh.WriteString(knownhosts.Line([]string{knownhosts.Normalize(h.Addr())}, h.HostKey) + "\n")
	}
	os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(kh.String()), 0o600)
	known := ssh.NewKnownHosts(filepath.Join(dir, "known_hosts"), ssh.HostKeyStrict)
	clients := map[string]*ssh.Client{}
	for _, h := range hosts {
		c, err := ssh.Dial(ctx, ssh.Config{Name: h.Name, Address: h.IP, Port: 22, User: "root", KeyPaths: []string{key.Path}, HostKeys: known})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[h.Name] = c
		res, err := c.Run(ctx, ssh.Command{Script: "hostname; cat /etc/hosts"})
		if err != nil || !strings.HasPrefix(res.Stdout, h.Name+"\n") || !strings.Contains(res.Stdout, h.IP+" "+h.Name) {
			t.Fatalf("%s: %q %v", h.Name, res.Stdout, err)
		}
	}
	if err := clients["n1"].Upload(ctx, ssh.File{Path: "/etc/haproxy/haproxy.cfg", Content: strings.NewReader("n1 only\n"), Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	res, _ := clients["n2"].Run(ctx, ssh.Command{Script: "cat /etc/haproxy/haproxy.cfg 2>/dev/null || echo absent"})
	if strings.TrimSpace(res.Stdout) != "absent" {
		t.Fatalf("n1's file visible on n2: %q", res.Stdout)
	}
	if b, _ := os.ReadFile(filepath.Join(hosts[0].Root, "etc/haproxy/haproxy.cfg")); string(b) != "n1 only\n" {
		t.Fatalf("file not under n1's root: %q", b)
	}
	if _, err := os.Stat("/etc/haproxy/haproxy.cfg"); err == nil {
		if b, _ := os.ReadFile("/etc/haproxy/haproxy.cfg"); strings.Contains(string(b), "n1 only") {
			t.Fatal("the VM's own /etc/haproxy was written")
		}
	}

	Stop(hosts)
	stopped = true
	out, _ := exec.Command("ip", "-o", "link").Output()
	ns, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), "kh-t1-") || strings.Contains(string(ns), "kh-t1-") {
		t.Fatalf("left behind:\n%s\n%s", out, ns)
	}
}

// TestHostAddr pins the address plan: the first 240 hosts keep the
// addresses of the one-/24 plan (golden files and tests name them), then
// each /24 takes 240 more, and .1-.10 and .251-.255 are never a host's.
func TestHostAddr(t *testing.T) {
	for _, tt := range []struct {
		name string
		i    int
		want string
	}{
		{"first", 0, "10.214.0.11"},
		{"fourth, as the wizard's golden files have it", 3, "10.214.0.14"},
		{"last of the first /24", 239, "10.214.0.250"},
		{"first of the second /24", 240, "10.214.1.11"},
		{"the 1000th", 999, "10.214.4.50"},
		{"the last", MaxHosts - 1, "10.214.255.250"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HostAddr(tt.i)
			if err != nil || got != tt.want {
				t.Fatalf("HostAddr(%d) = %q, %v; want %q", tt.i, got, err, tt.want)
			}
		})
	}
	for _, i := range []int{-1, MaxHosts} {
		if a, err := HostAddr(i); err == nil {
			t.Errorf("HostAddr(%d) = %q, want an error", i, a)
		}
	}
	seen := map[string]int{}
	for i := range 1000 {
		a, _ := HostAddr(i)
		if j, ok := seen[a]; ok {
			t.Fatalf("hosts %d and %d share %s", j, i, a)
		}
		seen[a] = i
		var x, y int
		fmt.Sscanf(a, "10.214.%d.%d", &x, &y)
		if y < 11 || y > 250 {
			t.Fatalf("host %d: %s is in the reserved part of its /24", i, a)
		}
	}
}

// TestHostPath: a host's private files are under its Root, /etc/hosts is
// its own file, and the VM's shared files have no host path.
func TestHostPath(t *testing.T) {
	h := &Host{Name: "w1", Root: "/tmp/x/w1"}
	for _, tt := range []struct{ path, want string }{
		{"/etc/sysctl.d/99-kubeha.conf", "/tmp/x/w1/etc/sysctl.d/99-kubeha.conf"},
		{"/etc/modules-load.d/kubeha.conf", "/tmp/x/w1/etc/modules-load.d/kubeha.conf"},
		{"/etc/sysctl.d", "/tmp/x/w1/etc/sysctl.d"},
		{"/root/.bashrc", "/tmp/x/w1/root/.bashrc"},
		{"/etc/hosts", "/tmp/x/w1/hosts"},
		{"/etc/sysctl.conf", ""},
		{"/etc/sysctl.d.bak/x", ""},
		{"/etc/hostname", ""},
	} {
		t.Run(tt.path, func(t *testing.T) {
			if got := h.Path(tt.path); got != tt.want {
				t.Fatalf("Path(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

// TestNeighbourRoom: Debian's default gc_thresh3 (1024) suffices for the
// 203 hosts of make bench-scale and not for 1000.
func TestNeighbourRoom(t *testing.T) {
	for _, tt := range []struct {
		hosts int
		fits  bool
	}{
		{3, true}, {203, true}, {384, true}, {385, false}, {1000, false},
	} {
		t.Run(fmt.Sprint(tt.hosts), func(t *testing.T) {
			if got := neighbourRoom(tt.hosts) <= 1024; got != tt.fits {
				t.Fatalf("neighbourRoom(%d) = %d: fits in 1024 is %v, want %v", tt.hosts, neighbourRoom(tt.hosts), got, tt.fits)
			}
		})
	}
}

package nshosts

import (
	"context"
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

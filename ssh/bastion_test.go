package ssh

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubeha/kubeha/e2e/sshd"
)

// ipT runs ip(8) and fails the test on error.
func ipT(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
	}
}

// TestBastion puts the target in a network namespace reachable only from the
// bastion's namespace: the test process has no route to it, so the only way
// in is through the bastion.
//
//	test (root ns) --vethR/vethB--> bastion ns --vethBT/vethT--> target ns
func TestBastion(t *testing.T) {
	requireSSHD(t)
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Skip("no network namespaces here")
	}
	id := rand.IntN(200) + 20
	b, tg := fmt.Sprintf("khb%d", id), fmt.Sprintf("kht%d", id)
	vr, vb, vbt, vt := fmt.Sprintf("khr%d", id), fmt.Sprintf("khrb%d", id), fmt.Sprintf("khbt%d", id), fmt.Sprintf("khtb%d", id)
	bastionIP := fmt.Sprintf("10.215.%d.2", id)
	targetIP := fmt.Sprintf("10.216.%d.2", id)
	targetNet := fmt.Sprintf("10.216.%d.0/30", id)
	t.Cleanup(func() {
		exec.Command("ip", "route", "del", "unreachable", targetNet).Run()
		exec.Command("ip", "link", "del", vr).Run()
		exec.Command("ip", "netns", "del", b).Run()
		exec.Command("ip", "netns", "del", tg).Run()
	})
	// Without this the root namespace's default route would carry a direct
	// dial to the target off this machine: make it fail here instead.
	ipT(t, "route", "add", "unreachable", targetNet)
	ipT(t, "netns", "add", b)
	ipT(t, "netns", "add", tg)
	ipT(t, "link", "add", vr, "type", "veth", "peer", "name", vb)
	ipT(t, "link", "set", vb, "netns", b)
	ipT(t, "addr", "add", fmt.Sprintf("10.215.%d.1/30", id), "dev", vr)
	ipT(t, "link", "set", vr, "up")
	ipT(t, "-n", b, "addr", "add", bastionIP+"/30", "dev", vb)
	ipT(t, "-n", b, "link", "set", vb, "up")
	ipT(t, "-n", b, "link", "set", "lo", "up")
	ipT(t, "-n", b, "link", "add", vbt, "type", "veth", "peer", "name", vt)
	ipT(t, "-n", b, "link", "set", vt, "netns", tg)
	ipT(t, "-n", b, "addr", "add", fmt.Sprintf("10.216.%d.1/30", id), "dev", vbt)
	ipT(t, "-n", b, "link", "set", vbt, "up")
	ipT(t, "-n", tg, "addr", "add", targetIP+"/30", "dev", vt)
	ipT(t, "-n", tg, "link", "set", vt, "up")
	ipT(t, "-n", tg, "link", "set", "lo", "up")

	dir := t.TempDir()
	key, err := sshd.NewClientKey(filepath.Join(dir, "id"), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bdir, tdir := filepath.Join(dir, "b"), filepath.Join(dir, "t")
	for _, d := range []string{bdir, tdir} {
		exec.Command("mkdir", "-p", d).Run()
	}
	bs, err := sshd.Start(ctx, sshd.Options{Dir: bdir, Address: bastionIP, NetNS: b, AuthorizedKeys: []xsshPublicKey{key.Public}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bs.Stop)
	ts, err := sshd.Start(ctx, sshd.Options{Dir: tdir, Address: targetIP, NetNS: tg, AuthorizedKeys: []xsshPublicKey{key.Public}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Stop)

	// The target is unreachable directly.
	if c, err := net.DialTimeout("tcp", ts.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("target reachable without the bastion: the test proves nothing")
	}
	known := filepath.Join(dir, "known_hosts")
	lines := knownhosts.Line([]string{knownhosts.Normalize(bs.Addr())}, bs.HostKey) + "\n" +
		knownhosts.Line([]string{knownhosts.Normalize(ts.Addr())}, ts.HostKey) + "\n"
	writeFile(t, known, lines)
	hk := NewKnownHosts(known, HostKeyStrict)
	cfg := Config{Name: "k1", Address: targetIP, Port: 22, User: "root", KeyPaths: []string{key.Path}, HostKeys: hk,
		Bastion: &Config{Name: "bastion", Address: bastionIP, Port: 22, User: "root", KeyPaths: []string{key.Path}, HostKeys: hk}}
	c := dialT(t, cfg)
	res := runT(t, c, "ip -o -4 addr show | grep -c "+targetIP)
	if strings.TrimSpace(res.Stdout) != "1" {
		t.Fatalf("command did not run on the target: %q", res.Stdout)
	}

	// The target's own host key is checked through the bastion too.
	writeFile(t, known, knownhosts.Line([]string{knownhosts.Normalize(bs.Addr())}, bs.HostKey)+"\n")
	_, err = Dial(ctx, cfg)
	var uk *UnknownHostKeyError
	if !asErr(err, &uk) || uk.Host != "k1" {
		t.Fatalf("target key not checked through the bastion: %v", err)
	}

	// The installer's scan reaches the target through the bastion too, and
	// the key it records lets the strict dial in.
	scanned, err := ScanHostKey(ctx, cfg)
	if err != nil || scanned.Fingerprint != uk.Fingerprint || scanned.Address != ts.Addr() {
		t.Fatalf("scan through the bastion: %+v %v, want %s", scanned, err, uk.Fingerprint)
	}
	if err := hk.Record(scanned, false); err != nil {
		t.Fatal(err)
	}
	runT(t, dialT(t, cfg), "true")
}

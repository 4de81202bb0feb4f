//go:build e2e

package machines

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/ssh"
)

func logT(t *testing.T) Logf {
	return func(format string, args ...any) { t.Logf(format, args...) }
}

// TestMachines starts five bare machines and proves what every later e2e
// scenario relies on, then that Clean leaves nothing and the VM's sysctls
// as they were.
func TestMachines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	release, err := Lock(ctx, logT(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // registered first, so it runs after the clean below
	if err := Clean(ctx, logT(t)); err != nil {
		t.Fatalf("clean before: %v", err)
	}
	before, err := ReadSysctls()
	if err != nil {
		t.Fatal(err)
	}
	d, tag, err := Prepare(ctx, logT(t), "../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Clean(context.Background(), logT(t)); err != nil {
			t.Errorf("clean: %v", err)
		}
		if left := Leftovers(context.Background()); len(left) > 0 {
			t.Errorf("left behind after clean: %v", left)
		}
		after, _ := ReadSysctls()
		for k, v := range before {
			if after[k] != v {
				t.Errorf("VM sysctl %s is %s after teardown, was %s", k, after[k], v)
			}
		}
	})

	dir := t.TempDir()
	key, err := sshd.NewClientKey(filepath.Join(dir, "id"), "")
	if err != nil {
		t.Fatal(err)
	}
	ak, err := WriteAuthorizedKeys(string(xssh.MarshalAuthorizedKey(key.Public)))
	if err != nil {
		t.Fatal(err)
	}
	var specs []Spec
	for i := 0; i < 5; i++ {
		specs = append(specs, Spec{Name: fmt.Sprintf("node%d", i+1), IP: fmt.Sprintf("10.213.0.%d", 11+i), Image: tag, AuthorizedKeys: ak})
	}
	start := time.Now()
	ms, err := StartMachines(ctx, d, logT(t), specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("5 machines SSH-ready in %v (target with warm caches: under 30 s)", time.Since(start).Round(10*time.Millisecond))

	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(KnownHosts(ms)), 0o600)
	hk := ssh.NewKnownHosts(known, ssh.HostKeyStrict)
	keys := map[string]string{}
	for _, m := range ms {
		if other, dup := keys[m.HostKey]; dup {
			t.Fatalf("%s and %s share a host key", m.Name, other)
		}
		keys[m.HostKey] = m.Name
		// Reached with kubeha's own transport and strict host key checking.
		c, err := ssh.Dial(ctx, ssh.Config{Name: m.Name, Address: m.IP, Port: 22, User: "root", KeyPaths: []string{key.Path}, HostKeys: hk})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Run(ctx, ssh.Command{Script: "cat /proc/1/comm; hostname; systemctl is-system-running --wait || true; systemctl is-active containerd ssh"})
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Fields(res.Stdout)
		if len(lines) < 5 || lines[0] != "systemd" || lines[1] != m.Name || lines[3] != "active" || lines[4] != "active" {
			t.Fatalf("%s: want systemd as PID 1 with containerd and ssh active, got %q", m.Name, res.Stdout)
		}
		t.Logf("%s: PID 1 %s, system %s", m.Name, lines[0], lines[2])
	}

	t.Run("containerd runs a container from an imported image", func(t *testing.T) {
		tarball := imageTarball(t, ctx, d)
		m := ms[0]
		// Not /tmp: docker cp writes beneath the machine's tmpfs there.
		if _, err := d.Run(ctx, "cp", tarball, m.Container()+":/root/pause.tar"); err != nil {
			t.Fatal(err)
		}
		out, err := m.Exec(ctx, "sh", "-c", "ctr -n k8s.io images import /root/pause.tar && ctr -n k8s.io run -d kubeha.local/e2e-pause:1 e2e-pause && sleep 1 && ctr -n k8s.io task ls")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "e2e-pause") || !strings.Contains(out, "RUNNING") {
			t.Fatalf("task not running:\n%s", out)
		}
		m.Exec(ctx, "sh", "-c", "ctr -n k8s.io task kill -s KILL e2e-pause; sleep 1; ctr -n k8s.io task rm e2e-pause; ctr -n k8s.io container rm e2e-pause")
	})

	t.Run("crash and restart", func(t *testing.T) {
		m := ms[4]
		if err := m.Crash(ctx); err != nil {
			t.Fatal(err)
		}
		if err := WaitTCP(ctx, m.SSHAddr(), time.Second); err == nil {
			t.Fatal("crashed machine still answers")
		}
		if err := m.Uncrash(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// imageTarball builds a one-binary image (the pause program from the
// Kubernetes cache, built on demand) with the harness's dockerd and saves it.
func imageTarball(t *testing.T, ctx context.Context, d *Docker) string {
	t.Helper()
	pause := filepath.Join(CacheDir(), "kube", "v1.37.2", "pause")
	if _, err := os.Stat(pause); err != nil {
		cmd := exec.CommandContext(ctx, "bash", "e2e/kube/build.sh", "pause")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build pause: %v\n%s", err, out)
		}
	}
	ctxDir := t.TempDir()
	copyFile(pause, filepath.Join(ctxDir, "pause"), 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n"), 0o644)
	if out, err := d.Run(ctx, "build", "-q", "-t", "kubeha.local/e2e-pause:1", ctxDir); err != nil {
		t.Fatalf("docker build: %v %s", err, out)
	}
	tarball := filepath.Join(t.TempDir(), "pause.tar")
	if _, err := d.Run(ctx, "save", "-o", tarball, "kubeha.local/e2e-pause:1"); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// TestBakedImage proves the baked image has the kubelet unit with the
// kubeadm drop-in, the binaries, and every image kubeadm lists.
func TestBakedImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	release, err := Lock(ctx, logT(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	d, _, baked, err := PrepareBaked(ctx, logT(t), "../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Clean(context.Background(), logT(t)) })
	dir := t.TempDir()
	key, _ := sshd.NewClientKey(filepath.Join(dir, "id"), "")
	ak, _ := WriteAuthorizedKeys(string(xssh.MarshalAuthorizedKey(key.Public)))
	ms, err := StartMachines(ctx, d, logT(t), []Spec{{Name: "baked1", IP: "10.213.0.31", Image: baked, AuthorizedKeys: ak}})
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	out, err := m.Exec(ctx, "sh", "-c", "systemctl cat kubelet | grep -c KUBELET_KUBEADM_ARGS; systemctl is-enabled kubelet; kubeadm version -o short; kubelet --version; kubectl version --client -o yaml | grep gitVersion")
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for _, want := range []string{"enabled", "v1.37.2", "Kubernetes v1.37.2", "gitVersion: v1.37.2"} {
		if !strings.Contains(out, want) {
			t.Errorf("baked machine lacks %q:\n%s", want, out)
		}
	}
	wantImgs, err := m.Exec(ctx, "kubeadm", "config", "images", "list", "--kubernetes-version", KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	have, err := m.Exec(ctx, "ctr", "-n", "k8s.io", "images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range strings.Fields(wantImgs) {
		if !strings.Contains(have, img+"\n") {
			t.Errorf("image %s missing from the machine's containerd:\n%s", img, have)
		}
	}
}

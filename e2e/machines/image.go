package machines

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BasePackages are what every machine has: systemd, sshd, containerd and
// runc, the load-balancer packages and firewalld (installed but disabled:
// kubeha enables what the inventory asks for, a scenario starts firewalld,
// and the machines have no internet).
var BasePackages = []string{
	"systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "iputils-ping", "containerd", "runc",
	"iptables", "kmod", "ca-certificates", "curl", "socat", "conntrack", "ipset", "ipvsadm", "ethtool",
	"keepalived", "haproxy", "nginx-light", "libnginx-mod-stream", "containernetworking-plugins",
	"sudo", "procps", "psmisc", "util-linux", "e2fsprogs", "nftables",
	// firewalld needs polkitd, which needs a logind: debootstrap does not
	// choose a provider of a virtual package, so name it.
	"firewalld", "polkitd", "libpam-systemd",
}

// Mirror is the Debian mirror debootstrap uses: the one apt uses here.
const Mirror = "http://deb.debian.org/debian"

// imageRecipeVersion changes whenever configureRootfs changes meaning, so
// the cache key follows the recipe.
const imageRecipeVersion = "bare-3"

// BareImage builds (or finds in the cache) the bare machine image and
// returns its tag: what an operator's fresh host looks like, with no
// Kubernetes on it.
func BareImage(ctx context.Context, d *Docker, log Logf, wrapper string) (string, error) {
	h := sha256.New()
	fmt.Fprint(h, imageRecipeVersion, "\x00", strings.Join(BasePackages, ","), "\x00", containerdConfig, sshDropIn, rsharedUnit)
	if wrapper != "" {
		f, err := os.Open(wrapper)
		if err != nil {
			return "", err
		}
		io.Copy(h, f)
		f.Close()
	}
	key := hex.EncodeToString(h.Sum(nil))[:12]
	tag := "kubeha-node:bare-" + key
	if _, err := d.Run(ctx, "image", "inspect", tag); err == nil {
		log("bare image %s: cached", tag)
		return tag, nil
	}
	rootfs, err := Debootstrap(ctx, log, filepath.Join(CacheDir(), "images", "bare-"+key), BasePackages)
	if err != nil {
		return "", err
	}
	if err := configureRootfs(rootfs, wrapper); err != nil {
		return "", fmt.Errorf("configure rootfs: %w", err)
	}
	log("importing %s", tag)
	tar := exec.CommandContext(ctx, "tar", "-C", rootfs, "--numeric-owner", "-c", ".")
	imp := exec.CommandContext(ctx, dockerBin, "-H", "unix://"+d.Sock, "import",
		"--change", `ENTRYPOINT ["/sbin/init"]`, "--change", "ENV container=docker", "-", tag)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return "", err
	}
	imp.Stdin = pipe
	var impErr strings.Builder
	imp.Stderr = &impErr
	if err := tar.Start(); err != nil {
		return "", err
	}
	if err := imp.Run(); err != nil {
		tar.Process.Kill()
		tar.Wait()
		return "", fmt.Errorf("docker import: %v: %s", err, impErr.String())
	}
	if err := tar.Wait(); err != nil {
		return "", fmt.Errorf("tar rootfs: %w", err)
	}
	return tag, nil
}

// containerd inside machines: cgroupfs (systemd is not the cgroup manager
// on cgroup v1 here), the pause image kubeadm expects, runc through the
// wrapper where the VM needs it, and registry hosts configured by
// directory (config_path, CertsDir): a test that needs a pull to succeed
// (a spec whose pods pull with policy Always) makes the harness's registry
// a mirror there (Registry.Mirror), without a restart of containerd.
// Without a hosts.toml for a registry, containerd pulls from the registry
// itself, as with no config_path. The registry table follows the cri
// table's own keys: in TOML a key after a sub-table's header is the
// sub-table's.
const containerdConfig = `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10.2"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "RUNC_BINARY"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "` + CertsDir + `"
`

// Host keys are made on each machine's first boot, so no two share one.
const sshDropIn = `[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
`

// Mount propagation the kubelet needs, before containerd starts.
const rsharedUnit = `[Unit]
Description=Make / rshared for the kubelet (kubeha e2e machine)
DefaultDependencies=no
Before=containerd.service kubelet.service

[Service]
Type=oneshot
ExecStart=/bin/mount --make-rshared /
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`

// Debootstrap makes a Debian bookworm rootfs (minbase, with packages) at
// dir/rootfs and returns its path, or finds it there: a marker beside it
// says a debootstrap finished, and dir is made afresh without one.
func Debootstrap(ctx context.Context, log Logf, dir string, packages []string) (string, error) {
	rootfs := filepath.Join(dir, "rootfs")
	if _, err := os.Stat(filepath.Join(dir, "debootstrap.done")); err == nil {
		return rootfs, nil
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	log("debootstrap bookworm into %s (a minute or two)", rootfs)
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(packages, ","), "bookworm", rootfs, Mirror)
	if err := streamLines(cmd, log, "debootstrap", 5*time.Second); err != nil {
		return "", fmt.Errorf("debootstrap: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "debootstrap.done"), nil, 0o644); err != nil {
		return "", err
	}
	log("debootstrap done in %s", time.Since(start).Round(time.Second))
	return rootfs, nil
}

func configureRootfs(rootfs, wrapper string) error {
	p := func(rel string) string { return filepath.Join(rootfs, rel) }
	write := func(rel, content string, mode os.FileMode) error {
		if err := os.MkdirAll(filepath.Dir(p(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p(rel), []byte(content), mode)
	}
	keys, _ := filepath.Glob(p("etc/ssh/ssh_host_*"))
	for _, k := range keys {
		os.Remove(k)
	}
	runcBinary := "/usr/sbin/runc"
	if wrapper != "" {
		if err := copyFile(wrapper, p("usr/local/bin/kh-runc"), 0o755); err != nil {
			return err
		}
		runcBinary = "/usr/local/bin/kh-runc"
	}
	steps := []struct {
		rel, content string
		mode         os.FileMode
	}{
		{"etc/machine-id", "", 0o444},
		{"etc/hostname", "", 0o644},
		{"etc/systemd/system/ssh.service.d/kubeha-e2e.conf", sshDropIn, 0o644},
		{"etc/systemd/system/kh-rshared.service", rsharedUnit, 0o644},
		{"etc/containerd/config.toml", strings.ReplaceAll(containerdConfig, "RUNC_BINARY", runcBinary), 0o644},
		{"etc/crictl.yaml", "runtime-endpoint: unix:///run/containerd/containerd.sock\nimage-endpoint: unix:///run/containerd/containerd.sock\n", 0o644},
		{"root/.bashrc", "# plain on purpose: no slow init in non-interactive ssh\n", 0o644},
	}
	for _, s := range steps {
		if err := write(s.rel, s.content, s.mode); err != nil {
			return err
		}
	}
	os.Remove(p("var/lib/dbus/machine-id"))
	os.MkdirAll(p("root/.ssh"), 0o700)
	os.MkdirAll(p("etc/systemd/system/multi-user.target.wants"), 0o755)
	os.Remove(p("etc/systemd/system/multi-user.target.wants/kh-rshared.service"))
	if err := os.Symlink("/etc/systemd/system/kh-rshared.service", p("etc/systemd/system/multi-user.target.wants/kh-rshared.service")); err != nil {
		return err
	}
	// Installed but not running, like packages on a host kubeha has not
	// configured yet.
	// firewalld too: the scenario of seeds 001-003's CentOS hosts starts
	// it (TestDedicatedLoadBalancers), the others run without.
	for _, svc := range []string{"haproxy", "keepalived", "nginx", "firewalld"} {
		os.Remove(p("etc/systemd/system/multi-user.target.wants/" + svc + ".service"))
	}
	os.Remove(p("etc/systemd/system/dbus-org.fedoraproject.FirewallD1.service"))
	// Units that cannot work in a container.
	for _, u := range []string{"console-getty.service", "getty@.service", "systemd-udevd.service", "systemd-udev-trigger.service",
		"systemd-modules-load.service", "systemd-remount-fs.service", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
		"kmod-static-nodes.service", "systemd-firstboot.service"} {
		os.Remove(p("etc/systemd/system/" + u))
		if err := os.Symlink("/dev/null", p("etc/systemd/system/"+u)); err != nil {
			return err
		}
	}
	for _, g := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"} {
		files, _ := filepath.Glob(p(g))
		for _, f := range files {
			os.Remove(f)
		}
	}
	return nil
}

// streamLines runs cmd and reports its output at most every `every`, so a
// long step shows progress without flooding.
func streamLines(cmd *exec.Cmd, log Logf, what string, every time.Duration) error {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	var last time.Time
	var tail []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		tail = append(tail, line)
		if len(tail) > 20 {
			tail = tail[1:]
		}
		if time.Since(last) >= every {
			log("%s: %s", what, line)
			last = time.Now()
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%w\n%s", err, strings.Join(tail, "\n"))
	}
	return nil
}

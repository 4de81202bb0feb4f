// Package nshosts makes Tier-1 test hosts: a network namespace each, on a
// private bridge, with its own OpenSSH sshd and its own view of the
// directories kubeha writes (/root, /etc/kubernetes, /etc/haproxy, ...)
// through a private mount namespace. They start in well under a second and
// suit tests of SSH, host-prep files, haproxy, keepalived and nginx; they
// share /proc, PIDs, cgroups and non-net sysctls with the VM and have no
// systemd (../shared/MACHINES.md, Tier 1).
//
// Everything is named kh-t1-*; Stop removes it all.
package nshosts

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/kubeha/kubeha/e2e/harnesslock"
	"github.com/kubeha/kubeha/e2e/sshd"
)

// lockPath serialises Tier-1 users: the bridge is shared and Stop removes it.
const lockPath = "/run/kh-t1.lock"

// Addresses: a /24 of its own, unrouted anywhere else.
const (
	Bridge   = "kh-t1-br"
	BridgeIP = "10.214.0.1"
	prefix   = "kh-t1-"
)

// PrivateDirs are the directories each host sees as its own.
var PrivateDirs = []string{"/root", "/etc/kubernetes", "/var/lib/kubelet", "/etc/haproxy", "/etc/keepalived",
	"/etc/sysctl.d", "/etc/modules-load.d", "/etc/kubeha"}

// Host is one Tier-1 host.
type Host struct {
	Name string
	IP   string
	// Root is where the host's private directories live on the VM:
	// Root+"/etc/haproxy" is the host's /etc/haproxy.
	Root    string
	HostKey xssh.PublicKey
	ns      string
	cmd     *exec.Cmd
	done    chan struct{}
	release func() // the Tier-1 lock, held by the first host of a Start
}

// NS is the host's network namespace.
func (h *Host) NS() string { return h.ns }

// Addr is the host's sshd address.
func (h *Host) Addr() string { return net.JoinHostPort(h.IP, "22") }

// Exec runs a command inside the host's network namespace (not its mount
// namespace), for the test's own checks and faults.
func (h *Host) Exec(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns}, args...)...).CombinedOutput()
	return string(out), err
}

// Crash sets the host's link down: to its peers it is gone at once.
func (h *Host) Crash(ctx context.Context) error {
	_, err := h.Exec(ctx, "ip", "link", "set", "eth0", "down")
	return err
}

// Freeze stops the host's sshd (SIGSTOP): connections are accepted by the
// kernel and then nothing answers, as with a hung host. Thaw resumes it.
func (h *Host) Freeze() error { return h.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen sshd.
func (h *Host) Thaw() error { return h.cmd.Process.Signal(syscall.SIGCONT) }

func ip(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Start makes a host for each name, with addresses 10.214.0.11.. in order,
// that accept key (root login). It holds the Tier-1 lock until Stop: one
// user of the bridge at a time, across processes.
func Start(ctx context.Context, dir string, names []string, key xssh.PublicKey) ([]*Host, error) {
	if err := sshd.Available(); err != nil {
		return nil, err
	}
	if len(names) == 0 || len(names) > 240 {
		return nil, fmt.Errorf("%d hosts: Tier-1 has room for 1 to 240", len(names))
	}
	release, err := harnesslock.Take(ctx, lockPath, func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) })
	if err != nil {
		return nil, err
	}
	if err := ensureBridge(ctx); err != nil {
		release()
		return nil, err
	}
	var hosts []*Host
	for i, name := range names {
		h, err := startHost(ctx, dir, name, fmt.Sprintf("10.214.0.%d", 11+i), key)
		if i == 0 {
			if err != nil {
				release()
			} else {
				h.release = release
			}
		}
		if err != nil {
			Stop(hosts)
			return nil, err
		}
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		if err := waitTCP(ctx, h.Addr(), 10*time.Second); err != nil {
			Stop(hosts)
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	return hosts, nil
}

func ensureBridge(ctx context.Context) error {
	if ip(ctx, "link", "show", Bridge) == nil {
		return nil
	}
	for _, a := range [][]string{
		{"link", "add", Bridge, "type", "bridge"},
		{"addr", "add", BridgeIP + "/24", "dev", Bridge},
		{"link", "set", Bridge, "up"},
	} {
		if err := ip(ctx, a...); err != nil {
			return err
		}
	}
	return nil
}

func startHost(ctx context.Context, dir, name, addr string, key xssh.PublicKey) (*Host, error) {
	h := &Host{Name: name, IP: addr, ns: prefix + name, Root: filepath.Join(dir, name), done: make(chan struct{})}
	hostVeth := prefix + "v-" + name
	if len(hostVeth) > 15 {
		return nil, fmt.Errorf("host name %q too long for an interface name", name)
	}
	exec.Command("ip", "netns", "del", h.ns).Run()
	for _, a := range [][]string{
		{"netns", "add", h.ns},
		{"link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", h.ns},
		{"link", "set", hostVeth, "master", Bridge},
		{"link", "set", hostVeth, "up"},
		{"-n", h.ns, "addr", "add", addr + "/24", "dev", "eth0"},
		{"-n", h.ns, "link", "set", "eth0", "up"},
		{"-n", h.ns, "link", "set", "lo", "up"},
	} {
		if err := ip(ctx, a...); err != nil {
			return nil, err
		}
	}
	for _, d := range PrivateDirs {
		if err := os.MkdirAll(filepath.Join(h.Root, d), 0o755); err != nil {
			return nil, err
		}
	}
	// A plain .bashrc: the VM's own root .bashrc runs a slow init that made
	// every `ssh host true` take seconds.
	os.WriteFile(filepath.Join(h.Root, "root", ".bashrc"), []byte("# kubeha test host\n"), 0o644)
	os.WriteFile(filepath.Join(h.Root, "hosts"), []byte("127.0.0.1 localhost\n"+addr+" "+name+"\n"), 0o644)
	sshDir := filepath.Join(h.Root, "sshd")
	os.MkdirAll(sshDir, 0o700)
	// An ed25519 key in OpenSSH format serves as a host key as well.
	hk, err := sshd.NewClientKey(filepath.Join(sshDir, "host_key"), "")
	if err != nil {
		return nil, err
	}
	h.HostKey = hk.Public
	os.WriteFile(filepath.Join(sshDir, "authorized_keys"), xssh.MarshalAuthorizedKey(key), 0o600)
	conf := strings.Join([]string{
		"ListenAddress " + addr + ":22",
		"HostKey " + filepath.Join(sshDir, "host_key"),
		"AuthorizedKeysFile " + filepath.Join(sshDir, "authorized_keys"),
		"PidFile none", "StrictModes no", "UsePAM no", "PermitRootLogin yes", "PasswordAuthentication no",
		"LogLevel ERROR", "Subsystem sftp /usr/lib/openssh/sftp-server",
	}, "\n") + "\n"
	os.WriteFile(filepath.Join(sshDir, "sshd_config"), []byte(conf), 0o600)

	var mounts strings.Builder
	for _, d := range PrivateDirs {
		fmt.Fprintf(&mounts, "mount --bind %s %s\n", filepath.Join(h.Root, d), d)
	}
	fmt.Fprintf(&mounts, "mount --bind %s /etc/hosts\n", filepath.Join(h.Root, "hosts"))
	script := mounts.String() + "mount -t tmpfs tmpfs /run\nmkdir -p /run/sshd\nhostname " + name + "\nexec /usr/sbin/sshd -D -e -f " + filepath.Join(sshDir, "sshd_config") + "\n"
	h.cmd = exec.Command("ip", "netns", "exec", h.ns, "unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script)
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stderr strings.Builder
	h.cmd.Stderr = &stderr
	if err := h.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { h.cmd.Wait(); close(h.done) }()
	return h, nil
}

// Stop kills every host's processes (sshd and anything started over SSH in
// its namespace) and removes the namespaces, links and the bridge.
func Stop(hosts []*Host) {
	for _, h := range hosts {
		if out, err := exec.Command("ip", "netns", "pids", h.ns).Output(); err == nil {
			for _, p := range strings.Fields(string(out)) {
				var pid int
				fmt.Sscan(p, &pid)
				if pid > 1 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if h.cmd != nil && h.cmd.Process != nil {
			h.cmd.Process.Kill()
			<-h.done
		}
		exec.Command("ip", "link", "del", prefix+"v-"+h.Name).Run()
		exec.Command("ip", "netns", "del", h.ns).Run()
	}
	exec.Command("ip", "link", "del", Bridge).Run()
	if len(hosts) > 0 && hosts[0].release != nil {
		hosts[0].release()
	}
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd on %s not reachable: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

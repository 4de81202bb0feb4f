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

// Addresses: 10.214.0.0/16, unrouted anywhere else. Hosts take .11 to .250
// of each /24 in turn (HostAddr); .1 to .10 and .251 to .255 of every /24
// are never a host's: the bridge is 10.214.0.1, and tests choose their VIPs
// and other extra addresses there.
const (
	Bridge   = "kh-t1-br"
	BridgeIP = "10.214.0.1"
	// PrefixLen is the length of the prefix of the bridge and the hosts.
	PrefixLen = 16
	prefix    = "kh-t1-"
	// perSubnet hosts fit in each /24: .11 to .250.
	perSubnet = 240
	// MaxHosts is how many hosts the address plan has room for: 240 in
	// each of the /16's 256 /24s.
	MaxHosts = perSubnet * 256
)

// HostAddr is the address of the i-th host (from 0) of a Start:
// 10.214.0.11 to 10.214.0.250 for the first 240, then 10.214.1.11 and on.
// The first 240 keep the addresses they had when Tier-1 was one /24.
func HostAddr(i int) (string, error) {
	if i < 0 || i >= MaxHosts {
		return "", fmt.Errorf("host %d: Tier-1 has room for %d hosts", i, MaxHosts)
	}
	return fmt.Sprintf("10.214.%d.%d", i/perSubnet, 11+i%perSubnet), nil
}

// HostsFile is a host's /etc/hosts as Start leaves it: localhost and the
// host's own name.
func HostsFile(name, addr string) string {
	return "127.0.0.1 localhost\n" + addr + " " + name + "\n"
}

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
	release func() // the Tier-1 lock and the neighbour limit, undone by the first host of a Start
}

// NS is the host's network namespace.
func (h *Host) NS() string { return h.ns }

// Addr is the host's sshd address.
func (h *Host) Addr() string { return net.JoinHostPort(h.IP, "22") }

// Path is where the host's file p (an absolute path) lives on the VM: under
// Root for p in one of PrivateDirs, Root+"/hosts" for /etc/hosts. Any other
// path is the VM's own, shared by every host, and Path returns "".
func (h *Host) Path(p string) string {
	p = filepath.Clean(p)
	if p == "/etc/hosts" {
		return filepath.Join(h.Root, "hosts")
	}
	for _, d := range PrivateDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return filepath.Join(h.Root, p)
		}
	}
	return ""
}

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

// Start makes a host for each name, with addresses HostAddr(0), (1), ...
// in order, that accept key (root login). It holds the Tier-1 lock until
// Stop: one user of the bridge at a time, across processes.
//
// Each host is its own sshd and its clients (kubeha's pool, pssh, Ansible,
// the tests) open one or a few connections to it at a time, so sshd's
// MaxStartups (10 unauthenticated connections per sshd) is not reached at
// any number of hosts. What grows with the number of hosts is on the VM: a
// process tree and a stderr pipe per host in the caller, and the kernel's
// neighbour table, which Start enlarges when it would be too small
// (ensureNeighbourRoom) and Stop gives back.
func Start(ctx context.Context, dir string, names []string, key xssh.PublicKey) ([]*Host, error) {
	if err := sshd.Available(); err != nil {
		return nil, err
	}
	if len(names) == 0 || len(names) > MaxHosts {
		return nil, fmt.Errorf("%d hosts: Tier-1 has room for 1 to %d", len(names), MaxHosts)
	}
	addrs := make([]string, len(names))
	for i := range names {
		var err error
		if addrs[i], err = HostAddr(i); err != nil {
			return nil, err
		}
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	unlock, err := harnesslock.Take(ctx, lockPath, logf)
	if err != nil {
		return nil, err
	}
	restore, err := ensureNeighbourRoom(len(names), logf)
	if err != nil {
		unlock()
		return nil, err
	}
	release := func() { restore(); unlock() }
	if err := ensureBridge(ctx); err != nil {
		release()
		return nil, err
	}
	var hosts []*Host
	for i, name := range names {
		h, err := startHost(ctx, dir, name, addrs[i], key)
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

// gcThresh3 is the kernel's hard limit on neighbour (ARP) entries. The
// IPv4 neighbour table is one for all network namespaces, and only the
// VM's own namespace can set the limit.
const gcThresh3 = "/proc/sys/net/ipv4/neigh/default/gc_thresh3"

// neighbourRoom is the neighbour table size n hosts need: two entries per
// host (the VM's entry for the host, the host's for the bridge address)
// and room for the VM's other neighbours and for traffic between hosts.
// Past the limit the kernel drops packets ("neighbour table overflow")
// until an entry unused for 5 s can go: with 1000 hosts connected to in a
// few seconds, Debian's default of 1024 would stall connections for
// seconds.
func neighbourRoom(n int) int { return 2*n + 256 }

// ensureNeighbourRoom raises gc_thresh3 to neighbourRoom(n) when it is
// lower, saying so through logf, and returns what puts the old value back
// (Stop calls it). With up to 384 hosts the default suffices and nothing
// changes.
func ensureNeighbourRoom(n int, logf func(string, ...any)) (restore func(), err error) {
	b, err := os.ReadFile(gcThresh3)
	if err != nil {
		return nil, err
	}
	old := strings.TrimSpace(string(b))
	var cur int
	if _, err := fmt.Sscan(old, &cur); err != nil {
		return nil, fmt.Errorf("%s: %q: %w", gcThresh3, old, err)
	}
	need := neighbourRoom(n)
	if cur >= need {
		return func() {}, nil
	}
	if err := os.WriteFile(gcThresh3, []byte(fmt.Sprint(need)), 0o644); err != nil {
		return nil, fmt.Errorf("%d hosts need %d neighbour entries, net.ipv4.neigh.default.gc_thresh3 is %d: %w", n, need, cur, err)
	}
	logf("%d hosts: net.ipv4.neigh.default.gc_thresh3 raised from %d to %d until the hosts stop", n, cur, need)
	return func() { os.WriteFile(gcThresh3, []byte(old), 0o644) }, nil
}

// ensureBridge makes the bridge afresh. One left by a process that died
// before its Stop is removed first: nobody else can be using it while this
// process holds the lock, and it may have an older address plan's /24.
func ensureBridge(ctx context.Context) error {
	if ip(ctx, "link", "show", Bridge) == nil {
		if err := ip(ctx, "link", "del", Bridge); err != nil {
			return err
		}
	}
	for _, a := range [][]string{
		{"link", "add", Bridge, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("%s/%d", BridgeIP, PrefixLen), "dev", Bridge},
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
		{"-n", h.ns, "addr", "add", fmt.Sprintf("%s/%d", addr, PrefixLen), "dev", "eth0"},
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
	os.WriteFile(filepath.Join(h.Root, "hosts"), []byte(HostsFile(name, addr)), 0o644)
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

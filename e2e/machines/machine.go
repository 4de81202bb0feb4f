package machines

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// containerPrefix names every machine container the harness creates.
const containerPrefix = "kh-e2e-"

// Machine is one running test machine.
type Machine struct {
	Name string
	IP   string
	// HostKey is the machine's SSH host key in authorized_keys form, read
	// through docker (a trusted channel), for known_hosts.
	HostKey string
	d       *Docker
}

// Container is the docker container name of the machine.
func (m *Machine) Container() string { return containerPrefix + m.Name }

// SSHAddr is host:22.
func (m *Machine) SSHAddr() string { return net.JoinHostPort(m.IP, "22") }

// Spec describes a machine to start.
type Spec struct {
	Name string
	IP   string // inside Subnet, e.g. 10.213.0.11
	// SecondIP, inside SecondSubnet, gives the machine an eth1 on the
	// second network; empty, it has eth0 alone. The default route stays
	// through eth0.
	SecondIP string
	Image    string
	// AuthorizedKeys is a file on this host mounted as root's
	// authorized_keys.
	AuthorizedKeys string
}

// StartMachines starts machines in parallel and waits until each runs
// systemd and answers SSH. A machine of the same name is replaced.
func StartMachines(ctx context.Context, d *Docker, log Logf, specs []Spec) ([]*Machine, error) {
	out := make([]*Machine, len(specs))
	errs := make(chan error, len(specs))
	for i, s := range specs {
		go func() {
			m, err := startMachine(ctx, d, s)
			out[i] = m
			errs <- err
		}()
	}
	var first error
	for range specs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return out, first
}

func startMachine(ctx context.Context, d *Docker, s Spec) (*Machine, error) {
	m := &Machine{Name: s.Name, IP: s.IP, d: d}
	d.Run(ctx, "rm", "-f", "-v", m.Container())
	args := []string{"run", "-d", "--name", m.Container(), "--hostname", s.Name,
		"--network", DockerNet, "--ip", s.IP,
		"--privileged", "--cgroupns=private", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp:exec",
		"-v", "/var", "--stop-signal", "SIGRTMIN+3", "--label", "kubeha-e2e=1",
		"-v", s.AuthorizedKeys + ":/root/.ssh/authorized_keys:ro",
		s.Image}
	if _, err := d.Run(ctx, args...); err != nil {
		return nil, fmt.Errorf("machine %s: %w", s.Name, err)
	}
	if s.SecondIP != "" {
		// Connected after the start, so eth0 is the first network's and
		// keeps the default route; docker connects it again on every
		// start, with the same address.
		if _, err := d.Run(ctx, "network", "connect", "--ip", s.SecondIP, SecondDockerNet, m.Container()); err != nil {
			return nil, fmt.Errorf("machine %s: eth1: %w", s.Name, err)
		}
	}
	if err := WaitTCP(ctx, m.SSHAddr(), 60*time.Second); err != nil {
		logs, _ := d.Run(ctx, "logs", "--tail", "30", m.Container())
		return nil, fmt.Errorf("machine %s: %w\n%s", s.Name, err, logs)
	}
	if err := m.fixResolver(ctx); err != nil {
		return nil, err
	}
	key, err := m.Exec(ctx, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	if err != nil {
		return nil, fmt.Errorf("machine %s: read host key: %w", s.Name, err)
	}
	f := strings.Fields(key)
	if len(f) < 2 {
		return nil, fmt.Errorf("machine %s: host key %q", s.Name, key)
	}
	m.HostKey = f[0] + " " + f[1]
	return m, nil
}

// fixResolver replaces docker's embedded DNS (127.0.0.11) as the machine's
// nameserver: a pod that inherits a loopback nameserver (CoreDNS does)
// queries itself in a loop. The gateway answers nothing, which is what a
// machine without internet should see.
func (m *Machine) fixResolver(ctx context.Context) error {
	_, err := m.Exec(ctx, "sh", "-c", "printf 'nameserver %s\n' "+Gateway+" > /etc/resolv.conf")
	return err
}

// Exec runs a command in the machine through docker (not SSH), for the
// harness's own checks and faults.
func (m *Machine) Exec(ctx context.Context, args ...string) (string, error) {
	return m.d.Run(ctx, append([]string{"exec", m.Container()}, args...)...)
}

// Crash takes the machine off the network at once, as a power cut looks
// to its peers (stopping keepalived cleanly would hand the VIP over
// politely instead). Setting eth0 down also deletes every route through
// it; Crash keeps a copy for Uncrash.
func (m *Machine) Crash(ctx context.Context) error {
	_, err := m.Exec(ctx, "sh", "-c", "ip route show dev eth0 > /run/kh-routes-before-crash && ip link set eth0 down")
	return err
}

// Uncrash brings the machine's network back, with the routes through eth0
// it had before Crash.
func (m *Machine) Uncrash(ctx context.Context) error {
	_, err := m.Exec(ctx, "sh", "-c", `ip link set eth0 up
[ -f /run/kh-routes-before-crash ] || exit 0
while read -r r; do case "$r" in *"proto kernel"*) continue ;; esac; ip route replace $r dev eth0; done < /run/kh-routes-before-crash
rm -f /run/kh-routes-before-crash`)
	return err
}

// Freeze pauses every process of the machine; Thaw resumes them.
func (m *Machine) Freeze(ctx context.Context) error {
	_, err := m.d.Run(ctx, "pause", m.Container())
	return err
}

// Thaw resumes a frozen machine.
func (m *Machine) Thaw(ctx context.Context) error {
	_, err := m.d.Run(ctx, "unpause", m.Container())
	return err
}

// PowerOff cuts the machine's power: every process is killed at once and
// its network is gone, with no shutdown and no goodbye to its peers.
func (m *Machine) PowerOff(ctx context.Context) error {
	_, err := m.d.Run(ctx, "kill", m.Container())
	return err
}

// savedHosts keeps the machine's /etc/hosts across a Stop, on its /var
// volume: docker writes a new /etc/hosts at every start, where a real
// machine keeps what was written to it (kubeha's endpoint name, which the
// kubelet dials).
const savedHosts = "/var/lib/kh-e2e-hosts"

// Stop shuts the machine down through systemd; Start boots it again, its
// /etc/hosts as Stop found it.
func (m *Machine) Stop(ctx context.Context) error {
	if out, err := m.Exec(ctx, "cp", "/etc/hosts", savedHosts); err != nil {
		return fmt.Errorf("machine %s: keep /etc/hosts: %w %s", m.Name, err, out)
	}
	_, err := m.d.Run(ctx, "stop", "-t", "20", m.Container())
	return err
}

// Start boots a stopped machine and waits for SSH. /etc/hosts is put back
// as the last Stop found it (not after PowerOff, which saves nothing).
func (m *Machine) Start(ctx context.Context) error {
	if _, err := m.d.Run(ctx, "start", m.Container()); err != nil {
		return err
	}
	if err := m.fixResolver(ctx); err != nil {
		return err
	}
	// In place: /etc/hosts is docker's bind mount, which a rename would
	// not replace.
	if out, err := m.Exec(ctx, "sh", "-c", "if [ -f "+savedHosts+" ]; then cat "+savedHosts+" > /etc/hosts && rm "+savedHosts+"; fi"); err != nil {
		return fmt.Errorf("machine %s: put /etc/hosts back: %w %s", m.Name, err, out)
	}
	return WaitTCP(ctx, m.SSHAddr(), 60*time.Second)
}

// Restart is Stop then Start.
func (m *Machine) Restart(ctx context.Context) error {
	if err := m.Stop(ctx); err != nil {
		return err
	}
	return m.Start(ctx)
}

// KnownHosts returns known_hosts lines for machines.
func KnownHosts(ms []*Machine) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s %s\n", m.IP, m.HostKey)
	}
	return b.String()
}

// WriteAuthorizedKeys writes pub to a file the machines mount.
func WriteAuthorizedKeys(pub string) (string, error) {
	p := filepath.Join(RunDir, "authorized_keys")
	if err := os.MkdirAll(RunDir, 0o700); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, []byte(pub), 0o644)
}

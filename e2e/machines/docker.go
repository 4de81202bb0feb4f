// Package machines makes the e2e test machines of DESIGN.md's "machines"
// tier on one host: systemd machines as containers (kind/bootloose style),
// run by a dockerd of the harness's own inside a network namespace it owns,
// on a private bridge the test process reaches by a route through that
// namespace. ../shared/MACHINES.md records why each step is as it is.
//
// Everything the harness creates is named kh-e2e* (namespace, veth, route,
// containers, network, dockerd state and the registry's under /run/kh-e2e);
// Clean removes exactly that. Images are cached under the cache directory by a hash of
// their recipe.
package machines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubeha/kubeha/e2e/kube"
)

// Names and addresses the harness owns. The machine subnet and the link
// between the root namespace and the harness's namespace are private,
// unrouted anywhere but here.
const (
	NetNS        = "kh-e2e"
	HostVeth     = "kh-e2e-h"
	NSVeth       = "kh-e2e-n"
	LinkHostAddr = "10.213.255.1"
	LinkNSAddr   = "10.213.255.2"
	Subnet       = "10.213.0.0/24"
	Gateway      = "10.213.0.1"
	DockerNet    = "kh-e2e-net"
	// The second network, eth1 on a machine whose Spec has a SecondIP: a
	// network whose gateway is not the default route (seed 003's Pod and
	// Service CIDR routes go "via 192.168.20.1 dev eth1").
	SecondSubnet    = "10.217.0.0/24"
	SecondGateway   = "10.217.0.1"
	SecondDockerNet = "kh-e2e-net2"
	SecondBridge    = "kh-e2e-br2"
	RunDir          = "/run/kh-e2e"
	dockerBin       = "/usr/bin/docker"
	dockerdBin      = "/usr/sbin/dockerd"
)

// Logf receives progress lines; the long steps print one every few seconds.
type Logf func(format string, args ...any)

// CacheDir is where images and the docker data root live between runs.
func CacheDir() string { return kube.CacheDir() }

// Docker is the harness's dockerd.
type Docker struct {
	Sock string
	log  Logf
}

// run executes a command and returns its stdout, with stderr in the error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Docker runs the docker CLI against the harness's daemon.
func (d *Docker) Run(ctx context.Context, args ...string) (string, error) {
	return run(ctx, dockerBin, append([]string{"-H", "unix://" + d.Sock}, args...)...)
}

// NeedsRuntimeWrapper reports whether this kernel's capability bounding set
// lacks CAP_SYS_RESOURCE, which privileged containers ask for.
func NeedsRuntimeWrapper() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			bnd, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && bnd&(1<<24) == 0
		}
	}
	return false
}

// StartDocker makes the namespace, the link to it and the route to the
// machine subnet, and starts dockerd inside the namespace (reusing one that
// is already running). wrapper is the kh-runc binary to register as the
// default runtime, or "" when NeedsRuntimeWrapper is false.
func StartDocker(ctx context.Context, log Logf, wrapper string) (*Docker, error) {
	if _, err := os.Stat(dockerdBin); err != nil {
		return nil, fmt.Errorf("%s missing: apt-get install docker.io", dockerdBin)
	}
	d := &Docker{Sock: filepath.Join(RunDir, "docker.sock"), log: log}
	if err := os.MkdirAll(RunDir, 0o700); err != nil {
		return nil, err
	}
	if err := saveSysctls(); err != nil {
		return nil, fmt.Errorf("record VM sysctls: %w", err)
	}
	if err := raiseInotify(); err != nil {
		return nil, err
	}
	if err := setupNetwork(ctx); err != nil {
		return nil, err
	}
	if _, err := d.Run(ctx, "info", "--format", "{{.ServerVersion}}"); err == nil {
		return d, d.ensureNetwork(ctx)
	}
	dataRoot := filepath.Join(CacheDir(), "docker")
	args := []string{"--net=/run/netns/" + NetNS, dockerdBin,
		"--data-root", dataRoot, "--exec-root", filepath.Join(RunDir, "exec"),
		"--pidfile", filepath.Join(RunDir, "docker.pid"), "-H", "unix://" + d.Sock,
		"--iptables=false", "--ip-masq=false", "--bridge=none", "--storage-driver=overlay2"}
	if wrapper != "" {
		args = append(args, "--add-runtime", "kh-runc="+wrapper, "--default-runtime", "kh-runc")
	}
	logFile, err := os.OpenFile(filepath.Join(RunDir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// dockerd outlives this process (tests reuse it); its own session keeps
	// it out of the test's process group.
	cmd.SysProcAttr = detach()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	go cmd.Wait()
	log("dockerd starting in namespace %s (data root %s)", NetNS, dataRoot)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := d.Run(ctx, "info", "--format", "{{.ServerVersion}}"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			tail, _ := os.ReadFile(filepath.Join(RunDir, "dockerd.log"))
			return nil, fmt.Errorf("dockerd not ready after 60s: %s", lastLines(string(tail), 15))
		}
		time.Sleep(300 * time.Millisecond)
	}
	return d, d.ensureNetwork(ctx)
}

// ensureNetwork creates the machines' docker networks, each a bridge in
// the harness's namespace that holds its gateway address.
func (d *Docker) ensureNetwork(ctx context.Context) error {
	for _, n := range []struct{ name, subnet, gateway, bridge string }{
		{DockerNet, Subnet, Gateway, "kh-e2e-br"},
		{SecondDockerNet, SecondSubnet, SecondGateway, SecondBridge},
	} {
		if _, err := d.Run(ctx, "network", "inspect", n.name); err == nil {
			continue
		}
		if _, err := d.Run(ctx, "network", "create", "--driver", "bridge", "--subnet", n.subnet, "--gateway", n.gateway,
			"-o", "com.docker.network.bridge.name="+n.bridge, n.name); err != nil {
			return err
		}
	}
	return nil
}

// setupNetwork creates the namespace, the veth link and the route, if
// absent. Idempotent.
func setupNetwork(ctx context.Context) error {
	if _, err := os.Stat("/run/netns/" + NetNS); errors.Is(err, os.ErrNotExist) {
		if _, err := run(ctx, "ip", "netns", "add", NetNS); err != nil {
			return err
		}
	}
	if _, err := run(ctx, "ip", "link", "show", HostVeth); err != nil {
		steps := [][]string{
			{"link", "add", HostVeth, "type", "veth", "peer", "name", NSVeth},
			{"link", "set", NSVeth, "netns", NetNS},
			{"addr", "add", LinkHostAddr + "/30", "dev", HostVeth},
			{"link", "set", HostVeth, "up"},
			{"-n", NetNS, "addr", "add", LinkNSAddr + "/30", "dev", NSVeth},
			{"-n", NetNS, "link", "set", NSVeth, "up"},
			{"-n", NetNS, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if _, err := run(ctx, "ip", s...); err != nil {
				return err
			}
		}
	}
	// Forwarding inside the harness's namespace only: net.* sysctls are per
	// namespace, the VM's own ip_forward is left alone.
	if _, err := run(ctx, "ip", "netns", "exec", NetNS, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	if out, _ := run(ctx, "ip", "route", "show", Subnet); !strings.Contains(out, LinkNSAddr) {
		if _, err := run(ctx, "ip", "route", "replace", Subnet, "via", LinkNSAddr, "dev", HostVeth); err != nil {
			return err
		}
	}
	return nil
}

// WaitTCP waits until addr accepts TCP connections.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not reachable after %v: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// copyFile copies src to dst with mode.
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

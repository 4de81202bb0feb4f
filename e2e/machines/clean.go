package machines

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Clean removes every container, network, namespace, link, route, mount and
// process the harness made, and nothing else: containers are found by the
// kubeha-e2e label, the rest by their kh-e2e names. Caches (images, the
// docker data root) are files and stay. Safe to run when nothing exists.
func Clean(ctx context.Context, log Logf) error {
	var errs []error
	d := &Docker{Sock: filepath.Join(RunDir, "docker.sock"), log: log}
	if _, err := d.Run(ctx, "info", "--format", "{{.ServerVersion}}"); err == nil {
		ids, _ := d.Run(ctx, "ps", "-aq", "--filter", "label=kubeha-e2e=1")
		if f := strings.Fields(ids); len(f) > 0 {
			log("removing %d machines", len(f))
			if _, err := d.Run(ctx, append([]string{"rm", "-f", "-v"}, f...)...); err != nil {
				errs = append(errs, err)
			}
		}
		d.Run(ctx, "network", "rm", DockerNet)
	}
	if b, err := os.ReadFile(filepath.Join(RunDir, "docker.pid")); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 1 {
			log("stopping dockerd (pid %d)", pid)
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
			if syscall.Kill(pid, 0) == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// dockerd's own containerd and shims live in the namespace too, and
	// the registry (StartRegistry) when a killed test left it running.
	if pids, err := run(ctx, "ip", "netns", "pids", NetNS); err == nil {
		for _, p := range strings.Fields(pids) {
			if pid, _ := strconv.Atoi(p); pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// Mounts dockerd left under its exec root.
	if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil {
		var targets []string
		for _, l := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], RunDir) {
				targets = append(targets, f[1])
			}
		}
		for i := len(targets) - 1; i >= 0; i-- {
			syscall.Unmount(targets[i], syscall.MNT_DETACH)
		}
	}
	if err := restoreSysctls(ctx); err != nil {
		errs = append(errs, err)
	}
	run(ctx, "ip", "route", "del", Subnet, "via", LinkNSAddr)
	run(ctx, "ip", "link", "del", HostVeth)
	if _, err := os.Stat("/run/netns/" + NetNS); err == nil {
		if _, err := run(ctx, "ip", "netns", "del", NetNS); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(RunDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Leftovers lists what of the harness still exists: empty after Clean.
func Leftovers(ctx context.Context) []string {
	var out []string
	if _, err := os.Stat("/run/netns/" + NetNS); err == nil {
		out = append(out, "netns "+NetNS)
	}
	if _, err := run(ctx, "ip", "link", "show", HostVeth); err == nil {
		out = append(out, "link "+HostVeth)
	}
	if r, _ := run(ctx, "ip", "route", "show", Subnet); strings.TrimSpace(r) != "" {
		out = append(out, "route "+Subnet)
	}
	if _, err := os.Stat(RunDir); err == nil {
		out = append(out, "dir "+RunDir)
	}
	if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil && strings.Contains(string(mounts), RunDir) {
		out = append(out, "mounts under "+RunDir)
	}
	if ps, _ := run(ctx, "pgrep", "-f", "dockerd.*"+RunDir); strings.TrimSpace(ps) != "" {
		out = append(out, "dockerd processes "+strings.Join(strings.Fields(ps), ","))
	}
	if ps, _ := run(ctx, "pgrep", "-f", registryBin+" serve "+registryDir); strings.TrimSpace(ps) != "" {
		out = append(out, "docker-registry processes "+strings.Join(strings.Fields(ps), ","))
	}
	return out
}

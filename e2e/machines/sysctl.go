package machines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// VMSysctls are the VM-wide (not per network namespace) sysctls a
// privileged kubelet inside a machine changes, and the inotify limits the
// harness raises (raiseInotify). The harness records them before the first
// machine starts and puts them back in Clean.
var VMSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
	"fs.inotify.max_user_instances", "fs.inotify.max_user_watches",
}

// inotifyLimits are what the machines need together. Every machine's
// systemd, kubelet (cAdvisor), containerd, firewalld, polkitd and logind
// take inotify instances from one budget, root's on the VM (the machines
// share its user namespace), whose default is 128: with firewalld on
// seven machines the last master's kubelet failed "inotify_init: too
// many open files" and its etcd never started. kind documents the same
// limit and these values.
var inotifyLimits = map[string]int{
	"fs.inotify.max_user_instances": 8192,
	"fs.inotify.max_user_watches":   524288,
}

// raiseInotify raises each of inotifyLimits that is below its value.
func raiseInotify() error {
	for n, want := range inotifyLimits {
		b, err := os.ReadFile(sysctlPath(n))
		if err != nil {
			return err
		}
		if cur, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && cur >= want {
			continue
		}
		if err := os.WriteFile(sysctlPath(n), []byte(strconv.Itoa(want)), 0o644); err != nil {
			return fmt.Errorf("raise %s to %d: %w", n, want, err)
		}
	}
	return nil
}

func sysctlPath(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// ReadSysctls returns the current values of VMSysctls.
func ReadSysctls() (map[string]string, error) {
	out := map[string]string{}
	for _, n := range VMSysctls {
		b, err := os.ReadFile(sysctlPath(n))
		if err != nil {
			return nil, err
		}
		out[n] = strings.TrimSpace(string(b))
	}
	return out, nil
}

var savedSysctls = filepath.Join(RunDir, "sysctls.saved")

// saveSysctls records the VM's values once per harness lifetime: a second
// StartDocker must not record values a kubelet already changed.
func saveSysctls() error {
	if _, err := os.Stat(savedSysctls); err == nil {
		return nil
	}
	vals, err := ReadSysctls()
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, n := range VMSysctls {
		fmt.Fprintf(&b, "%s=%s\n", n, vals[n])
	}
	return os.WriteFile(savedSysctls, []byte(b.String()), 0o600)
}

// restoreSysctls writes back what saveSysctls recorded.
func restoreSysctls(_ context.Context) error {
	data, err := os.ReadFile(savedSysctls)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		n, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		if err := os.WriteFile(sysctlPath(n), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore %s=%s: %w", n, v, err))
		}
	}
	return errors.Join(errs...)
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"

	"github.com/kubeha/kubeha/e2e/nshosts"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
)

// wantFile is one file as kubeha's host-prep leaves it on a host, by its
// path on the host.
type wantFile struct {
	Path    string
	Content []byte
	Mode    fs.FileMode
}

// expectedFiles is what kubeha's host-prep leaves on each host of c, by
// host name, from host-prep's own desired state (PrepareHosts.Files, the
// code its Probe, its Run and kubeha render use), with kube-proxy in the
// inventory's mode: the sysctl.d and modules-load.d files whole, and
// /etc/hosts as nshosts.Start wrote it followed by kubeha's block.
func expectedFiles(ctx context.Context, c *inventory.Cluster) (map[string][]wantFile, error) {
	files, err := phases.PrepareHosts{}.Files(ctx, phases.OfflineView{C: c})
	if err != nil {
		return nil, err
	}
	out := map[string][]wantFile{}
	for _, f := range files {
		h, ok := c.Host(f.Host)
		if !ok {
			return nil, fmt.Errorf("host-prep wants %s on %s, which is not in the inventory", f.Path, f.Host)
		}
		w := wantFile{Path: f.Path, Content: f.Content, Mode: f.Mode.Perm()}
		if f.Path == phases.HostsBlockPath {
			w = wantFile{Path: "/etc/hosts", Content: append([]byte(nshosts.HostsFile(h.Name, h.InternalAddress)), f.Content...), Mode: 0o644}
		}
		out[f.Host] = append(out[f.Host], w)
	}
	return out, nil
}

// benchDir is where the bench stages each host's scripts for pssh and
// Ansible, in the host's private /root.
const benchDir = "/root/.kubeha-bench"

// The staged scripts, by their path on every host.
const (
	factsPath = benchDir + "/facts.sh"
	prepPath  = benchDir + "/prep.sh"
)

// hostScripts is what pssh and Ansible run on each host of c, by host name
// and path: the facts script with the host's address, as kubeha's probe
// runs it, and host-prep's work on that host as one script
// (phases.HostPrepScript: the same files written by the same template,
// then the same prep steps and /etc/hosts block as kubeha's Run).
//
// The scripts differ from host to host (the host's address is in both), so
// no one command line carries them all: 203 hosts' host-prep scripts make
// 1.4 MB, ten times what Linux allows in one argument. The bench writes
// them into each host's /root before the timed part; kubeha sends its
// scripts and files within its time. That favours pssh and Ansible, by a
// few kilobytes per host.
func hostScripts(c *inventory.Cluster) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, h := range c.Spec.Hosts {
		out[h.Name] = map[string]string{
			factsPath: "KH_ADDR=" + ssh.Quote(h.InternalAddress) + "\n" + phases.FactsScript,
			prepPath:  phases.HostPrepScript(c, h, c.Spec.Network.KubeProxyMode),
		}
	}
	return out
}

// stageScripts writes each host's scripts where its sshd's commands see
// them.
func stageScripts(hosts []*nshosts.Host, scripts map[string]map[string]string) error {
	for _, h := range hosts {
		for p, content := range scripts[h.Name] {
			local := h.Path(p)
			if local == "" {
				return fmt.Errorf("%s: %s is not private to the host", h.Name, p)
			}
			if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(local, []byte(content), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// resetFiles brings every host's files back to unprepared: no file in the
// directories host-prep writes to (sysctl.d, modules-load.d), /etc/hosts as
// Start wrote it.
func resetFiles(hosts []*nshosts.Host, want map[string][]wantFile) error {
	for _, h := range hosts {
		for _, d := range wantDirs(h, want[h.Name]) {
			entries, err := os.ReadDir(d.local)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := os.RemoveAll(filepath.Join(d.local, e.Name())); err != nil {
					return err
				}
			}
		}
		if err := os.WriteFile(h.Path("/etc/hosts"), []byte(nshosts.HostsFile(h.Name, h.IP)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// hostDir is a directory of a host: its path there and on the VM.
type hostDir struct{ onHost, local string }

// wantDirs are the host's private directories that hold files of want:
// /etc/sysctl.d and /etc/modules-load.d, not /etc, which is the VM's own.
func wantDirs(h *nshosts.Host, want []wantFile) []hostDir {
	var dirs []hostDir
	for _, f := range want {
		d := hostDir{onHost: path.Dir(f.Path)}
		if d.local = h.Path(d.onHost); d.local != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// maxDiffs is how many differences checkFiles names before it counts the
// rest.
const maxDiffs = 10

// checkFiles proves that tool left every host as kubeha's host-prep would:
// each file of want with exactly its content and mode, and nothing else in
// the host's directories that hold them (no temporary file left, no file
// of another name). Each difference is an error naming the tool, the host
// and the file; the first maxDiffs are returned, with a count of the rest.
func checkFiles(tool string, hosts []*nshosts.Host, want map[string][]wantFile) error {
	var errs []error
	more := 0
	add := func(host, p, format string, args ...any) {
		if len(errs) == maxDiffs {
			more++
			return
		}
		errs = append(errs, fmt.Errorf("after %s: %s: %s: %s", tool, host, p, fmt.Sprintf(format, args...)))
	}
	for _, h := range hosts {
		files := want[h.Name]
		if len(files) == 0 {
			add(h.Name, "-", "host-prep wants no file on it: the bench's inventory and hosts disagree")
			continue
		}
		for _, f := range files {
			local := h.Path(f.Path)
			got, err := os.ReadFile(local)
			if err != nil {
				add(h.Name, f.Path, "%v", err)
				continue
			}
			if !bytes.Equal(got, f.Content) {
				add(h.Name, f.Path, "content differs from kubeha host-prep's: got %d bytes (sha256 %x) %q, want %d bytes (sha256 %x) %q",
					len(got), sha256.Sum256(got), clip(got), len(f.Content), sha256.Sum256(f.Content), clip(f.Content))
			}
			if st, err := os.Stat(local); err == nil && st.Mode().Perm() != f.Mode {
				add(h.Name, f.Path, "mode %04o, want %04o", st.Mode().Perm(), f.Mode)
			}
		}
		for _, d := range wantDirs(h, files) {
			entries, err := os.ReadDir(d.local)
			if err != nil {
				add(h.Name, d.onHost, "%v", err)
				continue
			}
			for _, e := range entries {
				onHost := path.Join(d.onHost, e.Name())
				if !slices.ContainsFunc(files, func(f wantFile) bool { return f.Path == onHost }) {
					add(h.Name, onHost, "not written by kubeha's host-prep")
				}
			}
		}
	}
	if more > 0 {
		errs = append(errs, fmt.Errorf("and %d more differences", more))
	}
	return errors.Join(errs...)
}

// clip is the start of b, enough to see how two files differ in an error.
func clip(b []byte) string {
	const n = 160
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// nonlocalBindHosts are the hosts whose sysctl file turns
// net.ipv4.ip_nonlocal_bind on (those running haproxy for the VIP): the
// kernel setting the bench checks besides the files, as proof that the
// prep steps ran after the files were written.
func nonlocalBindHosts(want map[string][]wantFile) []string {
	var out []string
	for host, files := range want {
		for _, f := range files {
			if f.Path == phases.SysctlPath && bytes.Contains(f.Content, []byte("\nnet.ipv4.ip_nonlocal_bind = 1\n")) {
				out = append(out, host)
			}
		}
	}
	sort.Strings(out)
	return out
}

package machines

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The machines' containerd configuration as containerd 1.6 reads it (the
// host's, Debian bookworm's as on the machines: docker.io brings it):
// `containerd config dump` parses the file and prints it merged with the
// defaults, so a key in the wrong table shows as the default there.
func TestContainerdConfigParses(t *testing.T) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd missing (docker.io brings it)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(containerdConfig, "RUNC_BINARY", "/usr/sbin/runc")), 0o644); err != nil {
		t.Fatal(err)
	}
	// Its own root, state and socket: dump starts nothing, but nothing of
	// the host's containerd is named either.
	out, err := exec.Command(bin, "--config", path, "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"),
		"--address", filepath.Join(dir, "sock"), "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, out)
	}
	// The keys each table of the dump holds, by table.
	tables := map[string]map[string]string{}
	table := ""
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") {
			table = strings.Trim(l, "[]")
			continue
		}
		if k, v, ok := strings.Cut(l, " = "); ok {
			if tables[table] == nil {
				tables[table] = map[string]string{}
			}
			tables[table][k] = v
		}
	}
	const cri = `plugins."io.containerd.grpc.v1.cri"`
	for _, w := range []struct{ table, key, value string }{
		{cri, "sandbox_image", `"registry.k8s.io/pause:3.10.2"`},
		{cri + ".containerd", "snapshotter", `"overlayfs"`},
		{cri + ".containerd.runtimes.runc", "runtime_type", `"io.containerd.runc.v2"`},
		{cri + ".containerd.runtimes.runc.options", "BinaryName", `"/usr/sbin/runc"`},
		{cri + ".containerd.runtimes.runc.options", "SystemdCgroup", "false"},
		{cri + ".registry", "config_path", `"` + CertsDir + `"`},
	} {
		if got := tables[w.table][w.key]; got != w.value {
			t.Errorf("[%s] %s = %s, want %s", w.table, w.key, got, w.value)
		}
	}
}

package phases

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/kubeha/kubeha/ssh"
)

// run runs a script on host with its output streamed as events.
func (env *Env) run(ctx context.Context, host, name, script string, secrets ...string) (ssh.Result, error) {
	log := env.Log.ForHost(host)
	return env.Hosts.Run(ctx, host, ssh.Command{Name: name, Script: script, Secrets: secrets,
		OnLine: func(stream, line string) { log.Line(stream, line) }})
}

// quiet runs a script whose output is data (facts, probes), not progress.
func (env *Env) quiet(ctx context.Context, host, name, script string) (ssh.Result, error) {
	return env.Hosts.Run(ctx, host, ssh.Command{Name: name, Script: script})
}

// sha256Hex is the hex sha256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// remoteHashes returns the sha256 of each path on host ("" when absent), in
// one command.
func (env *Env) remoteHashes(ctx context.Context, host string, paths []string) (map[string]string, error) {
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "if [ -f %[1]s ]; then printf '%%s %%s\\n' \"$(sha256sum < %[1]s | cut -d' ' -f1)\" %[1]s; fi\n", ssh.Quote(p))
	}
	res, err := env.quiet(ctx, host, "hash files", b.String())
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		if h, p, ok := strings.Cut(l, " "); ok {
			out[p] = h
		}
	}
	return out, nil
}

// fileSpec is a file kubeha places on a host.
type fileSpec struct {
	Path    string
	Mode    os.FileMode
	Content []byte
	Secret  bool
}

// putFiles uploads each file whose content differs on host and returns the
// paths it changed. Unchanged files are not touched, so a rerun restarts
// nothing.
func (env *Env) putFiles(ctx context.Context, host string, files []fileSpec) ([]string, error) {
	differ, err := env.filesDiffer(ctx, host, files)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, f := range files {
		if !slices.Contains(differ, f.Path) {
			continue
		}
		log := env.Log.ForHost(host)
		if err := env.Hosts.Upload(ctx, host, ssh.File{Path: f.Path, Content: bytes.NewReader(f.Content), Size: int64(len(f.Content)),
			Mode: f.Mode, Secret: f.Secret, Progress: func(n int64) { log.Progress(f.Path, n, int64(len(f.Content))) }}); err != nil {
			return changed, err
		}
		log.Info("wrote " + f.Path)
		changed = append(changed, f.Path)
	}
	return changed, nil
}

// filesDiffer lists which of files differ on host, without changing anything.
func (env *Env) filesDiffer(ctx context.Context, host string, files []fileSpec) ([]string, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	have, err := env.remoteHashes(ctx, host, paths)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if have[f.Path] != sha256Hex(f.Content) {
			out = append(out, f.Path)
		}
	}
	return out, nil
}

// sshCommand is a command whose script holds secrets: it is shown by name
// only, and the secrets are masked in any error.
func sshCommand(name, script string, secrets ...string) ssh.Command {
	return ssh.Command{Name: name, Script: script, Secrets: secrets}
}

// waitReadyScript waits up to secs for the local apiserver's /readyz.
func waitReadyScript(secs int) string {
	return fmt.Sprintf(`i=0; until curl -sfk --max-time 2 https://127.0.0.1:6443/readyz >/dev/null; do
  i=$((i+1)); if [ $i -ge %d ]; then echo "apiserver not ready after %ds" >&2; exit 1; fi; sleep 1
done`, secs, secs)
}

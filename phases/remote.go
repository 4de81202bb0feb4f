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

	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// run runs a script on host with its output streamed as events.
func (env *Env) run(ctx context.Context, host, name string, script scripts.Script, secrets ...string) (ssh.Result, error) {
	log := env.Log.ForHost(host)
	return env.Hosts.Run(ctx, host, ssh.Command{Name: name, Script: script.String(), Secrets: secrets,
		OnLine: func(stream, line string) { log.Line(stream, line) }})
}

// quiet runs a script whose output is data (facts, probes), not progress.
func (env *Env) quiet(ctx context.Context, host, name string, script scripts.Script) (ssh.Result, error) {
	return env.Hosts.Run(ctx, host, ssh.Command{Name: name, Script: script.String()})
}

// sha256Hex is the hex sha256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// remoteHashes returns the sha256 of each path on host ("" when absent), in
// one command.
func (env *Env) remoteHashes(ctx context.Context, host string, paths []string) (map[string]string, error) {
	res, err := env.quiet(ctx, host, "hash files", scripts.Legacy(hashScript(paths)))
	if err != nil {
		return nil, err
	}
	return parseHashes(res.Stdout), nil
}

// hashScript prints sha256sum's "sha256  path" line for each path that is a
// file, with one sha256sum for them all.
func hashScript(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("set --\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "[ -f %[1]s ] && set -- \"$@\" %[1]s\n", ssh.Quote(p))
	}
	b.WriteString("[ $# = 0 ] || sha256sum -- \"$@\"\n")
	return b.String()
}

// parseHashes reads sha256sum's output. Paths kubeha manages hold no
// newline or backslash, so sha256sum prints them as they are.
func parseHashes(out string) map[string]string {
	have := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if h, p, ok := strings.Cut(l, "  "); ok {
			have[p] = h
		}
	}
	return have
}

// hostProbe is what a phase's probe learns of one host in one round trip.
type hostProbe struct {
	Facts  *Facts   // gathered only when not yet known this run
	Differ []string // the files that differ on the host
	Extra  string   // the extra script's standard output
}

// probeMarker starts each section of probeHost's output; no script kubeha
// probes with prints it.
const probeMarker = "@@kubeha-probe "

// probeHost answers a probe's questions about host with one command: at
// scale every extra command is another session, another fork of sshd and a
// shell on every host, and a no-op rerun is mostly probes. extra must only
// read.
func (env *Env) probeHost(ctx context.Context, host string, files []fileSpec, extra string) (hostProbe, error) {
	f := env.Shared.Facts.known(host)
	fc := ""
	if f == nil {
		var err error
		if fc, err = factsCommand(env, host); err != nil {
			return hostProbe{}, err
		}
	}
	paths := make([]string, len(files))
	for i, fs := range files {
		paths[i] = fs.Path
	}
	res, err := env.quiet(ctx, host, "probe", scripts.Legacy(probeScript(fc, paths, extra)))
	if err != nil {
		return hostProbe{}, err
	}
	sections := map[string]*strings.Builder{}
	var cur *strings.Builder
	for _, l := range strings.SplitAfter(res.Stdout, "\n") {
		if name, ok := strings.CutPrefix(l, probeMarker); ok {
			cur = &strings.Builder{}
			sections[strings.TrimSpace(name)] = cur
			continue
		}
		if cur != nil {
			cur.WriteString(l)
		}
	}
	text := func(name string) string {
		if s := sections[name]; s != nil {
			return s.String()
		}
		return ""
	}
	if f == nil {
		if sections["facts"] == nil {
			return hostProbe{}, fmt.Errorf("%s: probe printed no facts", host)
		}
		f = parseFacts(text("facts"))
		env.Shared.Facts.put(host, f)
	}
	return hostProbe{Facts: f, Extra: text("extra"), Differ: differing(files, parseHashes(text("hashes")))}, nil
}

// probeScript is probeHost's one command: the facts script facts (none
// when ""), the hashes of paths, and the read-only script extra (none when
// ""), each in its own section after a probeMarker line.
func probeScript(facts string, paths []string, extra string) string {
	var b strings.Builder
	if facts != "" {
		fmt.Fprintf(&b, "echo '%sfacts'\n(\n%s)\n", probeMarker, facts)
	}
	fmt.Fprintf(&b, "echo '%shashes'\n%s", probeMarker, hashScript(paths))
	if extra != "" {
		fmt.Fprintf(&b, "echo '%sextra'\n(\n%s\n)\n", probeMarker, extra)
	}
	return b.String()
}

// fileSpec is a file kubeha places on a host.
type fileSpec struct {
	Path    string
	Mode    os.FileMode
	Content []byte
	Secret  bool
}

// putFiles writes each file whose content differs on host and returns the
// paths it changed. Unchanged files are not touched, so a rerun restarts
// nothing. Small files (configs) go in one command, content on stdin
// (never in a command line another user could read with ps); large ones
// through Upload (SFTP, verified, with progress).
func (env *Env) putFiles(ctx context.Context, host string, files []fileSpec) ([]string, error) {
	total := 0
	for _, f := range files {
		total += len(f.Content)
	}
	if total <= smallFilesLimit {
		return env.putSmallFiles(ctx, host, files)
	}
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

// smallFilesLimit is the most putFiles sends in one command.
const smallFilesLimit = 256 << 10

// putSmallFilesScript writes the files whose contents follow on stdin, in
// order: each to a temporary file beside it, its sha256 checked, left alone
// when the old file is the same, else its mode set and renamed into place;
// it prints each path it changed. A short write (a full disk) leaves the
// old file and no temporary file, and says how much space there is. It
// starts few processes: at scale every one counts on every host.
const putSmallFilesScript = `set -e
umask 077
w() {
  p=$1; d=${p%/*}; t="$d/.${p##*/}.kubeha-new"
  [ -d "$d" ] || mkdir -p "$d"
  if ! head -c "$3" > "$t" 2>/dev/null; then bad "short write"; fi
  set -- "$@" $(sha256sum "$t" "$p" 2>/dev/null)
  if [ "$5" != "$4" ]; then bad "checksum mismatch"; fi
  if [ "${7:-}" = "$4" ]; then rm -f "$t"; return 0; fi
  chmod "$2" "$t"
  mv -f "$t" "$p"
  echo "$p"
}
bad() {
  rm -f "$t"
  kb=$(df -Pk "$d" 2>/dev/null | awk 'NR==2 {print $4}')
  if [ -n "$kb" ] && [ "$kb" -lt 64 ]; then
    echo "not enough disk space in $d: $kb KiB free writing $p; free space on the host and run again" >&2
  else
    echo "$p: $1 writing $t" >&2
  fi
  exit 65
}
`

func (env *Env) putSmallFiles(ctx context.Context, host string, files []fileSpec) ([]string, error) {
	var stdin bytes.Buffer
	for _, f := range files {
		stdin.Write(f.Content)
	}
	res, err := env.Hosts.Run(ctx, host, ssh.Command{Name: "write " + filePaths(files), Script: smallFilesScript(files), Stdin: &stdin})
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, p := range strings.Fields(res.Stdout) {
		env.Log.ForHost(host).Info("wrote " + p)
		changed = append(changed, p)
	}
	return changed, nil
}

// smallFilesScript is putSmallFilesScript with one w call per file, in
// order; the files' contents follow on stdin in the same order.
func smallFilesScript(files []fileSpec) string {
	var script strings.Builder
	script.WriteString(putSmallFilesScript)
	for _, f := range files {
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		fmt.Fprintf(&script, "w %s %o %d %s\n", ssh.Quote(f.Path), mode, len(f.Content), sha256Hex(f.Content))
	}
	return script.String()
}

func filePaths(files []fileSpec) string {
	var ps []string
	for _, f := range files {
		ps = append(ps, f.Path)
	}
	return strings.Join(ps, ", ")
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
	return differing(files, have), nil
}

// differing lists the files whose content's sha256 is not have's for
// their path.
func differing(files []fileSpec, have map[string]string) []string {
	var out []string
	for _, f := range files {
		if have[f.Path] != sha256Hex(f.Content) {
			out = append(out, f.Path)
		}
	}
	return out
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

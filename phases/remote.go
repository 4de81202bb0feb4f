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

// remoteHashes returns the sha256 of each path on host (none for a path
// that is not a file), in one command.
func (env *Env) remoteHashes(ctx context.Context, host string, paths []string) (map[string]string, error) {
	res, err := env.quiet(ctx, host, "hash files", hashScript(paths))
	if err != nil {
		return nil, err
	}
	return scripts.ParseHashes(res.Stdout), nil
}

// hashScript prints sha256sum's line for each of paths that is a file, with
// the prelude's hash_files, the one way kubeha hashes remote files
// (scripts.ParseHashes reads its output).
func hashScript(paths []string) scripts.Script {
	return scripts.Render("phases/hash-files", struct{ Paths []string }{paths})
}

// hostProbe is what a phase's probe learns of one host in one round trip.
type hostProbe struct {
	Facts  *Facts   // gathered only when not yet known this run
	Differ []string // the files that differ on the host
	Extra  string   // the extra script's standard output
}

// probe answers a probe's questions about host with one command (see
// probeScript): its facts when not yet known this run, which of files
// differ, and the output of extra, which must only read (none when zero).
func (env *Env) probe(ctx context.Context, host string, files []fileSpec, extra scripts.Script) (hostProbe, error) {
	f := env.Facts.known(host)
	var fc scripts.Script
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
	res, err := env.quiet(ctx, host, "probe", probeScript(fc, paths, extra))
	if err != nil {
		return hostProbe{}, err
	}
	sections := scripts.Sections(res.Stdout)
	if f == nil {
		out, ok := sections["facts"]
		if !ok {
			return hostProbe{}, fmt.Errorf("%s: probe printed no facts", host)
		}
		f = parseFacts(out)
		env.Facts.put(host, f)
	}
	return hostProbe{Facts: f, Extra: sections["extra"], Differ: differing(files, scripts.ParseHashes(sections["hashes"]))}, nil
}

// probeScript is probe's one command: the facts script facts (none when
// zero), the hashes of paths, and the read-only script extra (none when
// zero), each in its own section.
func probeScript(facts scripts.Script, paths []string, extra scripts.Script) scripts.Script {
	return scripts.Render("phases/probe", struct {
		Facts, Extra scripts.Script
		Paths        []string
	}{facts, extra, paths})
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

func (env *Env) putSmallFiles(ctx context.Context, host string, files []fileSpec) ([]string, error) {
	var stdin bytes.Buffer
	for _, f := range files {
		stdin.Write(f.Content)
	}
	res, err := env.Hosts.Run(ctx, host, ssh.Command{Name: "write " + filePaths(files), Script: smallFilesScript(files).String(), Stdin: &stdin})
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

// smallFilesScript writes files whose contents follow on stdin, in the
// same order: each through a temporary file beside it, its sha256 checked,
// and renamed into place only when it differs (templates/phases/put-files);
// it prints each path it changed. A full disk leaves the old file, no
// temporary file, and exits 65 saying how much space there is.
func smallFilesScript(files []fileSpec) scripts.Script {
	type file struct {
		Path   string
		Mode   os.FileMode
		Size   int
		SHA256 string
	}
	data := struct{ Files []file }{}
	for _, f := range files {
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		data.Files = append(data.Files, file{f.Path, mode, len(f.Content), sha256Hex(f.Content)})
	}
	return scripts.Render("phases/put-files", data)
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

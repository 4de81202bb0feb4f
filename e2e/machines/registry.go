package machines

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// The harness's image registry: Debian's docker-registry (distribution
// 2.8) inside NetNS, plain http on every address of the namespace. The
// harness's dockerd, in the same namespace, pushes to it as
// localhost:RegistryPort (docker trusts a registry on localhost without
// TLS, so the daemon needs no flag); the machines pull from it at
// RegistryURL, the gateway of their network, as a mirror of the registry
// an image's name holds (Registry.Mirror).
const (
	RegistryPort = "5000"
	RegistryURL  = "http://" + Gateway + ":" + RegistryPort
	registryBin  = "/usr/bin/docker-registry"
	// registryDir holds the registry's configuration and storage; Stop
	// removes it, and Clean with the rest of RunDir.
	registryDir = RunDir + "/registry"
	// CertsDir is containerd's registry config_path on the machines
	// (containerdConfig): a directory per registry host, each with a
	// hosts.toml that containerd reads at every pull.
	CertsDir = "/etc/containerd/certs.d"
)

// Registry is a running docker-registry. Its methods may be called from
// one goroutine at a time.
type Registry struct {
	dir string
	// url is the registry as the machines reach it.
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// StartRegistry starts the harness's registry in NetNS, empty, with its
// output in logPath (RunDir/registry.log when empty), and waits until it
// answers at RegistryURL, the address the machines use: reaching it from
// here goes through the route to the machine subnet. The caller stops it
// with Stop; a run killed before that leaves it to Clean, which ends every
// process of the namespace and removes RunDir. StartDocker must have run:
// the namespace and the bridge holding Gateway are its.
func StartRegistry(ctx context.Context, log Logf, logPath string) (*Registry, error) {
	if _, err := os.Stat(registryBin); err != nil {
		return nil, fmt.Errorf("%s missing: apt-get install docker-registry", registryBin)
	}
	if logPath == "" {
		logPath = filepath.Join(RunDir, "registry.log")
	}
	// Something answering already would pass for the new registry, which
	// could not bind the port.
	if registryAnswers(ctx, RegistryURL) {
		return nil, fmt.Errorf("a registry answers at %s already (a killed run's? kh-machines clean ends it)", RegistryURL)
	}
	r, err := serveRegistry(ctx, []string{"nsenter", "--net=/run/netns/" + NetNS}, registryDir, "0.0.0.0:"+RegistryPort, RegistryURL, logPath)
	if err != nil {
		return nil, err
	}
	log("registry serving at %s (localhost:%s to the harness's dockerd), log %s", RegistryURL, RegistryPort, logPath)
	return r, nil
}

// registryConfig is the part of distribution's configuration the harness
// sets; the rest keeps its defaults.
type registryConfig struct {
	Version string `yaml:"version"`
	Log     struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	Storage struct {
		Filesystem struct {
			RootDirectory string `yaml:"rootdirectory"`
		} `yaml:"filesystem"`
	} `yaml:"storage"`
	HTTP struct {
		Addr string `yaml:"addr"`
	} `yaml:"http"`
}

// renderRegistryConfig is the configuration of a registry listening on
// listen with its storage under root.
func renderRegistryConfig(listen, root string) (string, error) {
	var c registryConfig
	c.Version = "0.1"
	// info logs each request: the log says which machine pulled what.
	c.Log.Level = "info"
	c.Storage.Filesystem.RootDirectory = root
	c.HTTP.Addr = listen
	b, err := yaml.Marshal(c)
	return string(b), err
}

// serveRegistry starts docker-registry behind prefix (a command that runs
// its arguments elsewhere, such as in a namespace; none when empty), with
// its configuration and storage in dir, made afresh, listening on listen,
// and waits until url/v2/ answers.
func serveRegistry(ctx context.Context, prefix []string, dir, listen, url, logPath string) (*Registry, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	conf, err := renderRegistryConfig(listen, filepath.Join(dir, "data"))
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := append(append([]string(nil), prefix...), registryBin, "serve", confPath)
	// Not tied to ctx: the registry lives until Stop (or Clean), past the
	// context it was started under.
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start docker-registry: %w", err)
	}
	r := &Registry{dir: dir, url: url, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(r.done)
	}()
	tail := func() string {
		b, _ := os.ReadFile(logPath)
		return lastLines(string(b), 15)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !registryAnswers(ctx, url) {
		select {
		case <-r.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("docker-registry exited (%v): %s", cmd.ProcessState, tail())
		case <-ctx.Done():
			r.Stop(context.Background())
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop(context.Background())
			return nil, fmt.Errorf("docker-registry not answering at %s/v2/ after 30s: %s", url, tail())
		}
	}
	return r, nil
}

// registryAnswers reports whether a registry answers url/v2/ with 200
// (distribution without authentication).
func registryAnswers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v2/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop ends the registry (SIGTERM, SIGKILL after 10 s or when ctx ends)
// and removes its configuration and storage. Safe to call twice.
func (r *Registry) Stop(ctx context.Context) error {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	select {
	case <-r.done:
	default:
		r.cmd.Process.Kill()
		<-r.done
	}
	return os.RemoveAll(r.dir)
}

// splitImage splits image, a name with its registry's host and a tag
// (registry.k8s.io/e2e-test-images/agnhost:2.66.1), into the host and
// the rest (e2e-test-images/agnhost:2.66.1): the name a pull of image
// through a mirror asks the mirror for. A name without a host (docker
// would read it as Docker Hub's) or without a tag is refused, and so is
// one with a digest: a push makes a manifest of its own, whose digest is
// not the one named.
func splitImage(image string) (host, path string, err error) {
	if strings.Contains(image, "@") {
		return "", "", fmt.Errorf("image %q: a digest cannot be pushed to a mirror: name a tag", image)
	}
	host, path, ok := strings.Cut(image, "/")
	// Docker's rule: the first component is a registry host when it has a
	// dot or a port, or is localhost.
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return "", "", fmt.Errorf("image %q: no registry host", image)
	}
	last := path[strings.LastIndexByte(path, '/')+1:]
	name, tag, ok := strings.Cut(last, ":")
	if !ok || name == "" || tag == "" {
		return "", "", fmt.Errorf("image %q: no tag", image)
	}
	for _, c := range strings.Split(path, "/") {
		if c == "" {
			return "", "", fmt.Errorf("image %q: an empty path component", image)
		}
	}
	return host, path, nil
}

// Push copies image from the harness's dockerd d into the registry, under
// its name without the registry host (Mirror's machines ask for it so):
// registry.k8s.io/e2e-test-images/agnhost:2.66.1 becomes
// localhost:5000/e2e-test-images/agnhost:2.66.1 in the namespace. The
// extra tag is removed again; the image stays in d.
func (r *Registry) Push(ctx context.Context, d *Docker, image string) error {
	_, path, err := splitImage(image)
	if err != nil {
		return err
	}
	local := "localhost:" + RegistryPort + "/" + path
	if _, err := d.Run(ctx, "tag", image, local); err != nil {
		return err
	}
	_, pushErr := d.Run(ctx, "push", local)
	if _, err := d.Run(ctx, "image", "rm", local); err != nil && pushErr == nil {
		return err
	}
	if pushErr != nil {
		return fmt.Errorf("push %s: %w", image, pushErr)
	}
	return nil
}

// hostsTOML is containerd's hosts.toml for a registry at server (https://
// and its host) mirrored at mirror: pulls and tag resolution go to the
// mirror first; the server stays the fallback (unreachable from the
// machines, so an image missing from the mirror fails to pull, as
// without the file).
func hostsTOML(server, mirror string) string {
	return fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", server, mirror)
}

// Mirror makes every machine of ms pull registryHost's images
// (registry.k8s.io) from the registry: it writes
// CertsDir/<registryHost>/hosts.toml, atomically (a temporary file renamed
// into place), in parallel, and returns the errors joined, each naming its
// machine. containerd reads the file at each pull: no restart. Nothing
// removes it: it lasts as long as the machine, which the harness removes
// at the end of the test, and with the registry stopped containerd's
// attempt at the mirror is refused at once and falls back to the server.
func (r *Registry) Mirror(ctx context.Context, ms []*Machine, registryHost string) error {
	if registryHost == "" || strings.ContainsAny(registryHost, "/ ") {
		return fmt.Errorf("registry host %q", registryHost)
	}
	dir := CertsDir + "/" + registryHost
	content := hostsTOML("https://"+registryHost, r.url)
	const script = `set -eu
mkdir -p "$1"
printf '%s' "$2" > "$1/hosts.toml.tmp"
mv "$1/hosts.toml.tmp" "$1/hosts.toml"`
	errs := make(chan error, len(ms))
	for _, m := range ms {
		go func() {
			if out, err := m.Exec(ctx, "sh", "-c", script, "sh", dir, content); err != nil {
				errs <- fmt.Errorf("machine %s: write %s/hosts.toml: %w %s", m.Name, dir, err, out)
				return
			}
			errs <- nil
		}()
	}
	var all []error
	for range ms {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

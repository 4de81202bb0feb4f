package machines

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Prepare builds the runtime wrapper when this VM needs it, starts the
// harness's dockerd and builds or reuses the bare image. repoRoot is the
// kubeha checkout (the wrapper is built from e2e/cmd/kh-runc).
func Prepare(ctx context.Context, log Logf, repoRoot string) (*Docker, string, error) {
	// The test pod's server goes into the baked image.
	if err := buildStatic(ctx, repoRoot, "./e2e/cmd/kh-echo", EchoBinary()); err != nil {
		return nil, "", err
	}
	wrapper := ""
	if NeedsRuntimeWrapper() {
		wrapper = filepath.Join(CacheDir(), "bin", "kh-runc")
		if err := os.MkdirAll(filepath.Dir(wrapper), 0o755); err != nil {
			return nil, "", err
		}
		if err := buildStatic(ctx, repoRoot, "./e2e/cmd/kh-runc", wrapper); err != nil {
			return nil, "", err
		}
		log("this VM lacks CAP_SYS_RESOURCE: OCI runtime wrapper %s", wrapper)
	}
	d, err := StartDocker(ctx, log, wrapper)
	if err != nil {
		return nil, "", err
	}
	tag, err := BareImage(ctx, d, log, wrapper)
	return d, tag, err
}

// PrepareBaked is Prepare plus the baked image (Kubernetes binaries and
// images inside; needs e2e/kube/build.sh to have run).
func PrepareBaked(ctx context.Context, log Logf, repoRoot string) (d *Docker, bare, baked string, err error) {
	return PrepareBakedFor(ctx, log, repoRoot, KubeVersion)
}

// PrepareBakedFor is Prepare plus the baked image of Kubernetes version
// (BakedImageFor). It runs e2e/kube/build.sh for version first: the
// binaries it finds cached are kept, and a build of that version under way
// elsewhere (CI starts the upgrade's in the background) is waited for.
func PrepareBakedFor(ctx context.Context, log Logf, repoRoot, version string) (d *Docker, bare, baked string, err error) {
	d, bare, err = Prepare(ctx, log, repoRoot)
	if err != nil {
		return nil, "", "", err
	}
	if err := buildKube(ctx, log, repoRoot, version); err != nil {
		return nil, "", "", err
	}
	baked, err = BakedImageFor(ctx, d, log, bare, version)
	return d, bare, baked, err
}

// EchoBinary is where Prepare builds the test pod's server.
func EchoBinary() string { return filepath.Join(CacheDir(), "bin", "kh-echo") }

// EchoImage is the test pod's image in the baked machines.
const EchoImage = "kubeha.local/echo:1"

// LBImage runs haproxy and keepalived as static pods in the baked machines.
const LBImage = "kubeha.local/lb:1"

func buildStatic(ctx context.Context, repoRoot, pkg, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v %s", pkg, err, b)
	}
	return nil
}

// buildKube runs e2e/kube/build.sh for Kubernetes version (RunBuild).
func buildKube(ctx context.Context, log Logf, repoRoot, version string) error {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("e2e", "kube", "build.sh"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "KUBE_VERSION="+version)
	if err := RunBuild(log, cmd); err != nil {
		return fmt.Errorf("KUBE_VERSION=%s e2e/kube/build.sh: %w", version, err)
	}
	return nil
}

// RunBuild runs cmd, a build script such as e2e/kube/build.sh, and logs
// its lines as they come once it has worked (or waited) for more than a
// few seconds: a build that finds everything cached says nothing. Its
// error carries every line the script printed.
func RunBuild(log Logf, cmd *exec.Cmd) error {
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return err
	}
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		start, loud := time.Now(), false
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if !loud && time.Since(start) > 5*time.Second {
				loud = true
				for _, l := range lines[:len(lines)-1] {
					log("%s", l)
				}
			}
			if loud {
				log("%s", sc.Text())
			}
		}
	}()
	err := cmd.Wait()
	w.Close()
	<-done
	if err != nil {
		return fmt.Errorf("%v\n%s", err, strings.Join(lines, "\n"))
	}
	return nil
}

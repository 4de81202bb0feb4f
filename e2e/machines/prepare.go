package machines

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Prepare builds the runtime wrapper when this VM needs it, starts the
// harness's dockerd and builds or reuses the bare image. repoRoot is the
// kubeha checkout (the wrapper is built from e2e/cmd/kh-runc).
func Prepare(ctx context.Context, log Logf, repoRoot string) (*Docker, string, error) {
	wrapper := ""
	if NeedsRuntimeWrapper() {
		wrapper = filepath.Join(CacheDir(), "bin", "kh-runc")
		if err := os.MkdirAll(filepath.Dir(wrapper), 0o755); err != nil {
			return nil, "", err
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", wrapper, "./e2e/cmd/kh-runc")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("build kh-runc: %v %s", err, out)
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
	d, bare, err = Prepare(ctx, log, repoRoot)
	if err != nil {
		return nil, "", "", err
	}
	baked, err = BakedImage(ctx, d, log, bare)
	return d, bare, baked, err
}

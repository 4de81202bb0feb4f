// Package kube locates the Kubernetes binaries e2e/kube/build.sh builds
// offline, for the harness and for tests that check rendered configs with
// the real kubeadm.
package kube

import (
	"os"
	"path/filepath"
	"testing"
)

// Version is the Kubernetes version the project builds and tests against.
const Version = "v1.37.2"

// CacheDir is ${KUBEHA_CACHE:-$HOME/.cache/kubeha}: images, binaries and the
// harness's docker data root live there between runs.
func CacheDir() string {
	if d := os.Getenv("KUBEHA_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kubeha")
}

// Dir is where build.sh puts the binaries of version v.
func Dir(v string) string { return filepath.Join(CacheDir(), "kube", v) }

// Require returns the path of binary name of Version for a test. Where it
// is not built the test is skipped, except in CI, which builds it first and
// where a missing binary must fail rather than pass silently.
func Require(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(Version), name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not built: CI runs e2e/kube/build.sh before the tests", p)
		}
		t.Skipf("%s not built: run e2e/kube/build.sh %s", p, name)
	}
	return p
}

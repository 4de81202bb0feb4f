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

// UpgradeFrom is the Kubernetes version the upgrade e2e test installs
// before it upgrades to Version: one minor below it, as kubeadm upgrades
// one minor at a time. CI builds it too (KUBE_VERSION=v1.36.3
// e2e/kube/build.sh), and build.sh knows its etcd and CoreDNS versions.
const UpgradeFrom = "v1.36.3"

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
	return RequireVersion(t, Version, name)
}

// RequireVersion is Require for binary name of Kubernetes version, which is
// Version or UpgradeFrom (the versions CI builds).
func RequireVersion(t testing.TB, version, name string) string {
	t.Helper()
	p := filepath.Join(Dir(version), name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not built: CI runs e2e/kube/build.sh before the tests", p)
		}
		t.Skipf("%s not built: run %s", p, BuildCommand(version, name))
	}
	return p
}

// BuildCommand is the shell command that builds binaries (all of them when
// none is named) of Kubernetes version, for messages that tell how.
func BuildCommand(version string, binaries ...string) string {
	cmd := "e2e/kube/build.sh"
	if version != Version {
		cmd = "KUBE_VERSION=" + version + " " + cmd
	}
	for _, b := range binaries {
		cmd += " " + b
	}
	return cmd
}

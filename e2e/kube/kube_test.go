package kube

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBuildCommand(t *testing.T) {
	for _, tc := range []struct {
		name, version string
		binaries      []string
		want          string
	}{
		{"current version, everything", Version, nil, "e2e/kube/build.sh"},
		{"current version, one binary", Version, []string{"kubeadm"}, "e2e/kube/build.sh kubeadm"},
		{"upgrade source", UpgradeFrom, []string{"kubeadm", "kubectl"}, "KUBE_VERSION=" + UpgradeFrom + " e2e/kube/build.sh kubeadm kubectl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BuildCommand(tc.version, tc.binaries...); got != tc.want {
				t.Errorf("BuildCommand(%q, %q) = %q, want %q", tc.version, tc.binaries, got, tc.want)
			}
		})
	}
}

func TestRequireVersion(t *testing.T) {
	t.Setenv("KUBEHA_CACHE", t.TempDir())
	t.Setenv("CI", "")
	// Not built: the subtest is skipped, so RequireVersion does not return.
	returned := false
	t.Run("missing", func(t *testing.T) {
		RequireVersion(t, UpgradeFrom, "kubeadm")
		returned = true
	})
	if returned {
		t.Error("RequireVersion returned for a binary that is not built")
	}
	want := filepath.Join(Dir(UpgradeFrom), "kubeadm")
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := RequireVersion(t, UpgradeFrom, "kubeadm"); got != want {
		t.Errorf("RequireVersion = %s, want %s", got, want)
	}
}

package controlplane

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// k_again, run against a kubectl that times out its first failures
// times, asks again up to three times in all: it prints what the try that
// succeeded printed, and only that, or fails once the third has failed.
func TestKAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps 5 s between tries")
	}
	for _, tc := range []struct {
		failures  int
		wantCalls int
		wantOK    bool
	}{
		{0, 1, true},
		{2, 3, true},
		{3, 3, false},
	} {
		t.Run(strconv.Itoa(tc.failures)+" failures", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			calls := filepath.Join(dir, "calls")
			stub := `#!/bin/sh
n=$(($(cat "$KH_CALLS" 2>/dev/null || echo 0) + 1))
echo "$n" > "$KH_CALLS"
if [ "$n" -le "$KH_FAIL" ]; then
  echo 'Unable to connect to the server: net/http: request canceled (Client.Timeout exceeded while awaiting headers)' >&2
  exit 1
fi
echo "the object, asked with: $*"
`
			if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			body := scripts.Render("phases/kube-proxy-config", nil)
			s := Frame(inventory.Host{Name: "m1"}, Endpoint, "20s", body)
			cmd := exec.Command("sh", "-c", s.String())
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "KH_CALLS="+calls, "KH_FAIL="+strconv.Itoa(tc.failures))
			var stdout strings.Builder
			cmd.Stdout = &stdout
			err := cmd.Run()
			n, _ := os.ReadFile(calls)
			if got := strings.TrimSpace(string(n)); got != strconv.Itoa(tc.wantCalls) {
				t.Errorf("%d failures: kubectl asked %s times, want %d", tc.failures, got, tc.wantCalls)
			}
			if (err == nil) != tc.wantOK {
				t.Errorf("%d failures: exit %v, want success %v", tc.failures, err, tc.wantOK)
			}
			want := ""
			if tc.wantOK {
				want = "the object, asked with: --kubeconfig /etc/kubernetes/admin.conf --request-timeout 20s -n kube-system get configmap kube-proxy -o jsonpath={.data.config\\.conf}\n"
			}
			if stdout.String() != want {
				t.Errorf("%d failures: stdout %q, want %q", tc.failures, stdout.String(), want)
			}
		})
	}
}

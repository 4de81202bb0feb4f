package phases

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubeha/kubeha/scripts"
)

// TestRoutesProbeScript runs the routes probe with ip stubbed: it prints
// the destinations of the routes file that have no route, skipping the
// header and blank lines, and prints nothing when there is no file.
func TestRoutesProbeScript(t *testing.T) {
	routes := filepath.Join(t.TempDir(), "routes")
	if err := os.WriteFile(routes, []byte("# Managed by kubeha\n\n10.244.1.0/24 via 10.0.0.2\n10.96.0.0/12 via 10.0.0.254 dev eth1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const ip = `"ip route show 10.244.1.0/24") echo '10.244.1.0/24 via 10.0.0.2 dev eth0' ;;
"ip route show "*) exit 0 ;;`
	for _, tc := range []struct {
		name, routes, stdout string
	}{
		{"one route missing", routes, "10.96.0.0/12\n"},
		{"no routes file", routes + ".absent", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWithStubs(t, scripts.Render("phases/routes-probe", struct{ Routes string }{tc.routes}), ip, "ip")
			if r.code != 0 || r.stdout != tc.stdout {
				t.Errorf("exit %d, stdout %q; want 0, %q (stderr %q)", r.code, r.stdout, tc.stdout, r.stderr)
			}
		})
	}
}

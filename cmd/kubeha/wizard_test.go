package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
)

// TestSSHCheckerScanAcceptLogin: against a real sshd, the installer's
// checker shows the host's real key, refuses to log in before the operator
// accepts it, records it once however often it is accepted, and then logs
// in with the key checked strictly.
func TestSSHCheckerScanAcceptLogin(t *testing.T) {
	if err := sshd.Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must be able to run sshd: %v", err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	key, err := sshd.NewClientKey(filepath.Join(dir, "id_ed25519"), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := sshd.Start(ctx, sshd.Options{Dir: dir, AuthorizedKeys: []xssh.PublicKey{key.Public}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	known := filepath.Join(dir, "ssh", "known_hosts")
	c := &sshChecker{}

	hk, err := c.Scan(ctx, "m1", srv.Address, srv.Port, known)
	if err != nil {
		t.Fatal(err)
	}
	if want := xssh.FingerprintSHA256(srv.HostKey); hk.Fingerprint != want {
		t.Fatalf("scanned %s, the host's key is %s", hk.Fingerprint, want)
	}
	var uk *ssh.UnknownHostKeyError
	if err := c.Login(ctx, srv.Address, srv.Port, "root", key.Path, known); !errors.As(err, &uk) {
		t.Fatalf("login before the key was accepted: want UnknownHostKeyError, got %v", err)
	}
	for range 2 {
		if err := c.Accept(known, hk); err != nil {
			t.Fatal(err)
		}
	}
	// The name is hashed or not as ~/.ssh/config and /etc/ssh/ssh_config
	// say (Debian's hashes); the key is the scanned one either way.
	data, _ := os.ReadFile(known)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	_, want, _ := strings.Cut(hk.Line(), " ")
	if _, got, _ := strings.Cut(lines[0], " "); len(lines) != 1 || got != want {
		t.Fatalf("known_hosts %q, want one line recording %q", data, want)
	}
	if err := c.Login(ctx, srv.Address, srv.Port, "root", key.Path, known); err != nil {
		t.Fatalf("login after accepting: %v", err)
	}
}

// TestInstallerEndMessage: leaving the installer before a run started says
// that nothing was changed on any host, and whether the inventory was
// saved, never that a journal can be continued: there is none.
func TestInstallerEndMessage(t *testing.T) {
	killed := fmt.Errorf("%w: %w", tea.ErrProgramKilled, context.Canceled)
	tests := []struct {
		name     string
		saved    bool
		err      error
		stateDir string
		want     string // stderr; "" when the installer goes on to apply
		code     int
	}{
		{name: "saved", saved: true, stateDir: ".kubeha", code: exitOK},
		{name: "ctrl-c before saving", stateDir: ".kubeha", code: exitInterrupted,
			want: "kubeha: left the installer without saving: interrupted\n" +
				"Nothing was changed on any host, and no inventory was saved.\n"},
		{name: "signal before saving", err: killed, stateDir: ".kubeha", code: exitInterrupted,
			want: "kubeha: left the installer without saving: program was killed: context canceled\n" +
				"Nothing was changed on any host, and no inventory was saved.\n"},
		{name: "signal after saving", saved: true, err: killed, stateDir: "/var/lib/kubeha", code: exitInterrupted,
			want: "kubeha: left the installer: program was killed: context canceled\n" +
				"Nothing was changed on any host. The inventory was saved to site.yaml; apply it with: kubeha apply -i site.yaml --state-dir /var/lib/kubeha\n"},
		{name: "terminal failure", err: errors.New("open /dev/tty: no such device"), stateDir: ".kubeha", code: exitFailed,
			want: "kubeha: left the installer without saving: open /dev/tty: no such device\n" +
				"Nothing was changed on any host, and no inventory was saved.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, stateDir := "site.yaml", tt.stateDir
			c := &cmdContext{app: &app{}, invPath: &inv, stateDir: &stateDir}
			err := c.installerEnd(tt.saved, tt.err)
			var out bytes.Buffer
			if err != nil {
				printError(&out, err)
			}
			if out.String() != tt.want {
				t.Errorf("stderr:\n%s\nwant:\n%s", out.String(), tt.want)
			}
			if got := exitCode(err); got != tt.code {
				t.Errorf("exit code %d, want %d", got, tt.code)
			}
		})
	}
}

// TestInstallerStartsFromTheFile: `kubeha tui -i FILE` starts from FILE
// when it exists and from the defaults when it does not; a file that is
// not a valid inventory, or cannot be read, stops it before anything is
// drawn with the file named, what is wrong and what to do. (Without a
// terminal, a file the installer can start from ends at the terminal
// check, which comes after the file's.)
func TestInstallerStartsFromTheFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	example := "../../examples/demo.yaml"
	noTerminal := "kubeha: the installer needs a terminal (stdin and stdout, TERM not dumb); without one, write the inventory with 'kubeha inventory init' and run 'kubeha apply'\n"
	missing := filepath.Join(dir, "new.yaml")
	broken := write("broken.yaml", "metadata: {name: x\n")
	invalid := write("invalid.yaml", "apiVersion: kubeha.io/v1alpha1\nkind: Cluster\nmetadata: {name: lab}\nspec:\n  hosts:\n  - {name: m1, adress: 10.0.0.11, role: master}\n")
	tests := []struct {
		name   string
		path   string
		base   string // the file installerStart returns, loaded; "" for none
		stderr string
		code   int
	}{
		{name: "missing: the defaults", path: missing, stderr: noTerminal, code: exitUsage},
		{name: "valid: the file", path: example, base: example, stderr: noTerminal, code: exitUsage},
		{name: "not YAML", path: broken, code: exitUsage,
			stderr: "kubeha: " + broken + " is not a valid inventory, so the installer cannot start from it:\n" +
				"  (file): not valid YAML: line 1: did not find expected ',' or '}' (fix: fix the syntax at the line named)\n" +
				"Nothing was changed. Fix the file (kubeha inventory validate -i " + broken + " lists the same problems) and run kubeha tui -i " + broken + " again, or give -i a file that does not exist yet to start from the installer's defaults.\n"},
		{name: "not a valid inventory", path: invalid, code: exitUsage,
			stderr: "kubeha: " + invalid + " is not a valid inventory, so the installer cannot start from it:\n" +
				"  spec.hosts[0].adress: unknown field (line 6) (fix: did you mean address?)\n" +
				"Nothing was changed. Fix the file (kubeha inventory validate -i " + invalid + " lists the same problems) and run kubeha tui -i " + invalid + " again, or give -i a file that does not exist yet to start from the installer's defaults.\n"},
		{name: "not readable", path: dir, code: exitFailed,
			stderr: "kubeha: cannot start the installer from " + dir + ": read inventory: read " + dir + ": is a directory\n" +
				"Nothing was changed. Fix that and run kubeha tui -i " + dir + " again, or give -i a file that does not exist yet to start from the installer's defaults.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := installerStart(tt.path)
			var want *inventory.Cluster
			if tt.base != "" {
				if want, _, err = inventory.Load(tt.base); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(base, want) {
				t.Errorf("starts from %+v, want %+v", base, want)
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"tui", "-i", tt.path}, nil, &out, &errb, defaultApp())
			if errb.String() != tt.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), tt.stderr)
			}
			if out.String() != "" {
				t.Errorf("stdout: %q", out.String())
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the installer wrote %s without being run: %v", missing, err)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/kubeha/kubeha/e2e/sshd"
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

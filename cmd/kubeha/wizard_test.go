package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

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

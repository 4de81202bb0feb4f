package ssh

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubeha/kubeha/e2e/sshd"
)

func scanT(t *testing.T, cfg Config) HostKey {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key, err := ScanHostKey(ctx, cfg)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return key
}

// TestScanHostKey: a scan returns the key a dial would be presented (the
// type known_hosts records for the host, else ed25519 first), without
// logging in and without touching known_hosts.
func TestScanHostKey(t *testing.T) {
	requireSSHD(t)
	rsaKey, rsaPub := keyPair(t, t.TempDir(), "ssh_host_rsa_key", "rsa")
	f := newFixture(t, sshd.Options{Extra: []string{"HostKey " + rsaKey}})
	name := f.knownName(f.server.Address)
	cases := []struct {
		name  string
		known []string // nil: no known_hosts file
		want  xssh.PublicKey
	}{
		{"unknown host", nil, f.server.HostKey},
		{"rsa recorded", []string{name + " " + authorizedLine(rsaPub)}, rsaPub},
		{"ed25519 recorded", []string{name + " " + authorizedLine(f.server.HostKey)}, f.server.HostKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			known := filepath.Join(t.TempDir(), "known_hosts")
			if tc.known != nil {
				writeFile(t, known, strings.Join(tc.known, "\n")+"\n")
			}
			before, _ := os.ReadFile(known)
			cfg := f.config("k1")
			cfg.HostKeys = NewKnownHosts(known, HostKeyStrict)
			cfg.Password = func() (string, error) {
				t.Error("a scan asked for a password")
				return "", errors.New("no")
			}
			key := scanT(t, cfg)
			if key.Fingerprint != xssh.FingerprintSHA256(tc.want) || key.Type != tc.want.Type() {
				t.Fatalf("scanned %s %s, want %s %s", key.Type, key.Fingerprint, tc.want.Type(), xssh.FingerprintSHA256(tc.want))
			}
			if key.Name != "k1" || key.Address != f.server.Addr() {
				t.Fatalf("scanned key names %q at %q", key.Name, key.Address)
			}
			if want := knownhosts.Line([]string{name}, tc.want); key.Line() != want {
				t.Fatalf("line %q, want %q", key.Line(), want)
			}
			if after, _ := os.ReadFile(known); string(after) != string(before) {
				t.Fatalf("a scan changed known_hosts: %q", after)
			}
		})
	}

	// Nothing listening: a connection error that names the host.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config("k9")
	cfg.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, err = ScanHostKey(context.Background(), cfg)
	var ce *ConnectionError
	if !errors.As(err, &ce) || ce.Host != "k9" {
		t.Fatalf("want a ConnectionError for k9, got %v", err)
	}
}

// TestRecordHostKey: Record writes through accept-new's writer (0600, its
// directory made, hashed when asked, a line OpenSSH accepts), whatever the
// checker's policy, and writes nothing when known_hosts already trusts the
// key or says something else about the host.
func TestRecordHostKey(t *testing.T) {
	requireSSHD(t)
	f := newFixture(t, sshd.Options{})
	dir := t.TempDir()
	_, otherPub := keyPair(t, dir, "other", "ed25519")
	_, caPub := keyPair(t, dir, "ca", "ed25519")
	name := f.knownName(f.server.Address)
	line := name + " " + authorizedLine(f.server.HostKey)
	cases := []struct {
		name    string
		known   []string // nil: no known_hosts file, nor its directory
		hash    bool
		written bool
		wantErr func(error) bool
	}{
		{name: "new", written: true},
		{name: "new, hashed", hash: true, written: true},
		{name: "beside other hosts", known: []string{"192.0.2.1 " + authorizedLine(otherPub)}, written: true},
		{name: "already recorded", known: []string{line}},
		{name: "changed", known: []string{name + " " + authorizedLine(otherPub)},
			wantErr: func(err error) bool { var e *ChangedHostKeyError; return errors.As(err, &e) && e.Host == "k1" }},
		{name: "revoked", known: []string{"@revoked * " + authorizedLine(f.server.HostKey)},
			wantErr: func(err error) bool { var e *RevokedHostKeyError; return errors.As(err, &e) }},
		{name: "trusted through a CA", known: []string{"@cert-authority " + name + " " + authorizedLine(caPub)},
			wantErr: func(err error) bool { var e *HostCertificateError; return errors.As(err, &e) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			known := filepath.Join(t.TempDir(), "ssh", "known_hosts")
			if tc.known != nil {
				os.MkdirAll(filepath.Dir(known), 0o700)
				writeFile(t, known, strings.Join(tc.known, "\n")+"\n")
			}
			before, _ := os.ReadFile(known)
			hk := NewKnownHosts(known, HostKeyStrict)
			cfg := f.config("k1")
			cfg.HostKeys = hk
			key := scanT(t, cfg)
			err := hk.Record(key, tc.hash)
			after, _ := os.ReadFile(known)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("want a refusal, got %v", err)
				}
				t.Log(err)
				if string(after) != string(before) {
					t.Fatalf("a refused key changed known_hosts: %q", after)
				}
				return
			}
			if err != nil {
				t.Fatalf("record: %v", err)
			}
			added := strings.TrimPrefix(string(after), string(before))
			if !tc.written {
				if added != "" {
					t.Fatalf("recorded again: %q", after)
				}
				return
			}
			if !strings.HasPrefix(string(after), string(before)) || strings.Count(added, "\n") != 1 {
				t.Fatalf("want one line appended to %q, got %q", before, after)
			}
			recorded := strings.TrimSuffix(added, "\n")
			if tc.hash {
				host, rest, _ := strings.Cut(recorded, " ")
				if !strings.HasPrefix(host, "|1|") || name+" "+rest != key.Line() {
					t.Fatalf("hashed line %q for %q", recorded, key.Line())
				}
				if out := sshKeygen(t, "-F", name, "-f", known); !strings.Contains(out, rest) {
					t.Fatalf("ssh-keygen -F does not find the hashed line: %s", out)
				}
			} else if recorded != key.Line() {
				t.Fatalf("recorded %q, want %q", recorded, key.Line())
			}
			for path, mode := range map[string]os.FileMode{known: 0o600, filepath.Dir(known): 0o700} {
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
					t.Errorf("%s: %v, want mode %v", path, err, mode)
				}
			}
			if ok, out := f.openSSHAccepts(t, known, f.server.Address); !ok {
				t.Fatalf("OpenSSH rejects the recorded line: %s", out)
			}
			dialT(t, cfg) // strict, with the same checker
		})
	}
}

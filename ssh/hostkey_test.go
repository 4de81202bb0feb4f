package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubeha/kubeha/e2e/sshd"
)

// sshKeygen runs OpenSSH's ssh-keygen and returns its output.
func sshKeygen(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen %s: %v %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keyPair makes a key with ssh-keygen and returns its private key path and
// public key.
func keyPair(t *testing.T, dir, name, typ string) (string, xssh.PublicKey) {
	t.Helper()
	path := filepath.Join(dir, name)
	args := []string{"-q", "-t", typ, "-N", "", "-C", name, "-f", path}
	if typ == "rsa" {
		args = append(args, "-b", "2048")
	}
	sshKeygen(t, args...)
	return path, readPublicKey(t, path+".pub")
}

func readPublicKey(t *testing.T, path string) xssh.PublicKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := xssh.ParseAuthorizedKey(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k
}

// authorizedLine is "type base64" of key.
func authorizedLine(key xssh.PublicKey) string {
	return strings.TrimSpace(string(xssh.MarshalAuthorizedKey(key)))
}

// writeKnown replaces f's known_hosts with lines.
func (f *fixture) writeKnown(t *testing.T, lines ...string) {
	t.Helper()
	if err := os.WriteFile(f.known, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// knownName is how known_hosts names the fixture's sshd when dialled at
// address.
func (f *fixture) knownName(address string) string {
	return knownhosts.Normalize(net.JoinHostPort(address, fmt.Sprint(f.server.Port)))
}

// presented dials cfg with the ClientConfig kubeha builds and returns the
// host key the server presented in the handshake, with the verdict of
// kubeha's check on it.
func presented(t *testing.T, cfg Config) (xssh.PublicKey, error) {
	t.Helper()
	cc, err := clientConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got xssh.PublicKey
	check := cc.HostKeyCallback
	cc.HostKeyCallback = func(addr string, remote net.Addr, key xssh.PublicKey) error {
		got = key
		return check(addr, remote, key)
	}
	conn, err := xssh.Dial("tcp", cfg.addr(), cc)
	if err == nil {
		conn.Close()
	}
	if got == nil {
		t.Fatalf("no host key presented: %v", err)
	}
	return got, hostKeyErrorOr(err)
}

func hostKeyErrorOr(err error) error {
	if hk := hostKeyError(err); hk != nil {
		return hk
	}
	return err
}

// openSSHAccepts runs OpenSSH's ssh against the fixture with
// StrictHostKeyChecking=yes and the given known_hosts file.
func (f *fixture) openSSHAccepts(t *testing.T, known, address string) (bool, string) {
	t.Helper()
	out, err := exec.Command("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+known, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
		"-i", f.key.Path, "-p", fmt.Sprint(f.server.Port), "root@"+address, "echo ok").CombinedOutput()
	return err == nil && strings.Contains(string(out), "ok"), string(out)
}

// TestHostKeyAcceptNewRecordsPresentedKey: against an sshd with RSA and
// ed25519 host keys, accept-new records the key the server presented, the
// same one OpenSSH's accept-new records (ed25519), hashed when asked, in a
// line OpenSSH finds and accepts.
func TestHostKeyAcceptNewRecordsPresentedKey(t *testing.T) {
	requireSSHD(t)
	rsaDir := t.TempDir()
	rsaKey, _ := keyPair(t, rsaDir, "ssh_host_rsa_key", "rsa")
	f := newFixture(t, sshd.Options{Extra: []string{"HostKey " + rsaKey}})

	// What OpenSSH records with an empty known_hosts, for comparison.
	theirs := filepath.Join(f.dir, "openssh_known_hosts")
	if out, err := exec.Command("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
		"-o", "UserKnownHostsFile="+theirs, "-o", "GlobalKnownHostsFile=/dev/null",
		"-i", f.key.Path, "-p", fmt.Sprint(f.server.Port), "root@"+f.server.Address, "true").CombinedOutput(); err != nil {
		t.Fatalf("OpenSSH accept-new: %v %s", err, out)
	}
	data, _ := os.ReadFile(theirs)
	_, _, opensshKey, _, _, err := xssh.ParseKnownHosts(data)
	if err != nil {
		t.Fatalf("OpenSSH's known_hosts %q: %v", data, err)
	}

	for _, hash := range []bool{false, true} {
		t.Run(fmt.Sprintf("hash=%v", hash), func(t *testing.T) {
			known := filepath.Join(t.TempDir(), "known_hosts")
			cfg := f.config("k1")
			cfg.HashKnownHosts = hash
			cfg.HostKeys = NewKnownHosts(known, HostKeyAcceptNew)
			key, err := presented(t, cfg)
			if err != nil {
				t.Fatalf("accept-new: %v", err)
			}
			data, _ := os.ReadFile(known)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one line, got %q", data)
			}
			name, recorded, ok := strings.Cut(lines[0], " ")
			if !ok || recorded != authorizedLine(key) {
				t.Fatalf("recorded %q, server presented %q", lines[0], authorizedLine(key))
			}
			if authorizedLine(key) != authorizedLine(f.server.HostKey) || authorizedLine(key) != authorizedLine(opensshKey) {
				t.Fatalf("presented %s, want the ed25519 key OpenSSH records (%s)", key.Type(), opensshKey.Type())
			}
			if hash != strings.HasPrefix(name, "|1|") || (!hash && name != f.knownName(f.server.Address)) {
				t.Fatalf("host name %q with hash=%v", name, hash)
			}
			// OpenSSH finds the line by name and connects with it.
			if out := sshKeygen(t, "-F", f.knownName(f.server.Address), "-f", known); !strings.Contains(out, recorded) {
				t.Fatalf("ssh-keygen -F does not find the line: %s", out)
			}
			if ok, out := f.openSSHAccepts(t, known, f.server.Address); !ok {
				t.Fatalf("OpenSSH rejects the recorded line: %s", out)
			}
			// And kubeha's strict mode accepts it.
			cfg.HostKeys = NewKnownHosts(known, HostKeyStrict)
			dialT(t, cfg)
		})
	}
}

// TestHostKeyAlgorithmsFollowKnownHosts: the server presents the type of key
// known_hosts holds for it, or a certificate when known_hosts trusts a CA
// for it, whatever the default order would have picked.
func TestHostKeyAlgorithmsFollowKnownHosts(t *testing.T) {
	requireSSHD(t)
	dir := t.TempDir()
	rsaKey, rsaPub := keyPair(t, dir, "ssh_host_rsa_key", "rsa")
	ecKey, ecPub := keyPair(t, dir, "ssh_host_ecdsa_key", "ecdsa")
	caKey, caPub := keyPair(t, dir, "ca", "ed25519")
	sshKeygen(t, "-q", "-s", caKey, "-I", "host", "-h", "-n", "127.0.0.1", ecKey+".pub")
	f := newFixture(t, sshd.Options{Extra: []string{"HostKey " + rsaKey, "HostKey " + ecKey, "HostCertificate " + ecKey + "-cert.pub"}})
	name := f.knownName(f.server.Address)
	cases := []struct {
		name  string
		known []string
		want  string // type of the key presented
	}{
		{"rsa recorded", []string{name + " " + authorizedLine(rsaPub)}, xssh.KeyAlgoRSA},
		{"ed25519 recorded", []string{name + " " + authorizedLine(f.server.HostKey)}, xssh.KeyAlgoED25519},
		{"ecdsa recorded", []string{name + " " + authorizedLine(ecPub)}, xssh.KeyAlgoECDSA256},
		{"CA trusted", []string{"@cert-authority " + name + " " + authorizedLine(caPub)}, xssh.CertAlgoECDSA256v01},
		{"CA trusted and rsa recorded", []string{name + " " + authorizedLine(rsaPub), "@cert-authority " + name + " " + authorizedLine(caPub)}, xssh.CertAlgoECDSA256v01},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.writeKnown(t, tc.known...)
			key, err := presented(t, f.config("k1"))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if key.Type() != tc.want {
				t.Fatalf("server presented %s, want %s", key.Type(), tc.want)
			}
		})
	}
}

// TestHostKeyCertificate: hosts presenting a host certificate are checked
// against the @cert-authority lines as OpenSSH checks them (CA, validity,
// names), and kubeha agrees with OpenSSH's own verdict on each.
func TestHostKeyCertificate(t *testing.T) {
	requireSSHD(t)
	dir := t.TempDir()
	caKey, caPub := keyPair(t, dir, "ca", "ed25519")
	otherCA, _ := keyPair(t, dir, "other_ca", "ed25519")
	cases := []struct {
		name       string
		address    string   // dialled; 127.0.0.1 when empty
		signer     string   // CA key that signs; none when empty
		sign       []string // ssh-keygen -s options besides -h -I
		plainKnown bool     // the host key is also on a plain line
		policy     HostKeyPolicy
		want       string // in the refusal; accepted when empty
	}{
		{name: "trusted", signer: caKey, sign: []string{"-n", "127.0.0.1"}},
		{name: "trusted by name", address: "localhost", signer: caKey, sign: []string{"-n", "k1.example.com,localhost"}},
		// OpenSSH (9.2) compares names exactly.
		{name: "wildcard principal", signer: caKey, sign: []string{"-n", "127.0.0.*"}, want: `not for "127.0.0.1"`},
		{name: "unknown CA", signer: otherCA, sign: []string{"-n", "127.0.0.1"}, policy: HostKeyAcceptNew, want: "not trusted for this host"},
		{name: "expired", signer: caKey, sign: []string{"-n", "127.0.0.1", "-V", "20200101:20200102"}, want: "expired at 2020-01-02"},
		{name: "not yet valid", signer: caKey, sign: []string{"-n", "127.0.0.1", "-V", "+52w:+53w"}, want: "not valid before"},
		{name: "other names", signer: caKey, sign: []string{"-n", "k1.example.com,localhost"}, want: `not for "127.0.0.1"`},
		{name: "no certificate", policy: HostKeyAcceptNew, want: "plain ssh-ed25519 key"},
		{name: "expired but key recorded", signer: caKey, sign: []string{"-n", "127.0.0.1", "-V", "20200101:20200102"}, plainKnown: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each case has its own sshd and files; most of the time is
			// spent waiting on OpenSSH.
			t.Parallel()
			hostKey, hostPub := keyPair(t, t.TempDir(), "ssh_host_ed25519_key", "ed25519")
			extra := []string{"HostKey " + hostKey}
			if tc.signer != "" {
				sshKeygen(t, append([]string{"-q", "-s", tc.signer, "-I", "k1", "-h"}, append(tc.sign, hostKey+".pub")...)...)
				extra = append(extra, "HostCertificate "+hostKey+"-cert.pub")
			}
			f := newFixture(t, sshd.Options{Extra: extra})
			address := tc.address
			if address == "" {
				address = "127.0.0.1"
			}
			known := []string{"@cert-authority " + f.knownName(address) + " " + authorizedLine(caPub)}
			if tc.plainKnown {
				known = append(known, f.knownName(address)+" "+authorizedLine(hostPub))
			}
			f.writeKnown(t, known...)
			before, _ := os.ReadFile(f.known)
			cfg := f.config("k1")
			cfg.Address = address
			cfg.HostKeys = NewKnownHosts(f.known, tc.policy)
			key, err := presented(t, cfg)
			if tc.signer != "" {
				if cert, ok := key.(*xssh.Certificate); !ok || authorizedLine(cert.Key) != authorizedLine(hostPub) {
					t.Fatalf("server presented %s, want the certificate of its key", key.Type())
				}
			}
			openssh, out := f.openSSHAccepts(t, f.known, address)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !openssh {
					t.Fatalf("kubeha accepts what OpenSSH refuses: %s", out)
				}
				return
			}
			var ce *HostCertificateError
			if !errors.As(err, &ce) {
				t.Fatalf("want HostCertificateError, got %v", err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, s := range []string{"k1", tc.want, f.known + ":1"} {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q: %s", s, msg)
				}
			}
			if openssh {
				t.Errorf("kubeha refuses what OpenSSH accepts")
			}
			if after, _ := os.ReadFile(f.known); string(after) != string(before) {
				t.Errorf("known_hosts changed: %q", after)
			}
		})
	}
}

// TestHostKeyRevoked: a key or CA marked @revoked is refused under every
// policy, even where another line lists the key or trusts the CA.
func TestHostKeyRevoked(t *testing.T) {
	requireSSHD(t)
	dir := t.TempDir()
	caKey, caPub := keyPair(t, dir, "ca", "ed25519")
	hostKey, hostPub := keyPair(t, dir, "ssh_host_ed25519_key", "ed25519")
	sshKeygen(t, "-q", "-s", caKey, "-I", "k1", "-h", "-n", "127.0.0.1", hostKey+".pub")
	plain := newFixture(t, sshd.Options{})
	certified := newFixture(t, sshd.Options{Extra: []string{"HostKey " + hostKey, "HostCertificate " + hostKey + "-cert.pub"}})
	cases := []struct {
		name    string
		f       *fixture
		known   func(f *fixture) []string
		revoked xssh.PublicKey
		ca      bool
	}{
		{"plain key", plain, func(f *fixture) []string {
			return []string{f.knownName(f.server.Address) + " " + authorizedLine(f.server.HostKey), "@revoked * " + authorizedLine(f.server.HostKey)}
		}, plain.server.HostKey, false},
		{"certified host key", certified, func(f *fixture) []string {
			return []string{"@cert-authority " + f.knownName(f.server.Address) + " " + authorizedLine(caPub), "@revoked * " + authorizedLine(hostPub)}
		}, hostPub, false},
		{"CA", certified, func(f *fixture) []string {
			return []string{"@cert-authority " + f.knownName(f.server.Address) + " " + authorizedLine(caPub), "@revoked * " + authorizedLine(caPub)}
		}, caPub, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.writeKnown(t, tc.known(tc.f)...)
			for _, policy := range []HostKeyPolicy{HostKeyStrict, HostKeyAcceptNew} {
				cfg := tc.f.config("k1")
				cfg.HostKeys = NewKnownHosts(tc.f.known, policy)
				_, err := Dial(context.Background(), cfg)
				var re *RevokedHostKeyError
				if !errors.As(err, &re) {
					t.Fatalf("policy %d: want RevokedHostKeyError, got %v", policy, err)
				}
				t.Log(err)
				if re.Fingerprint != xssh.FingerprintSHA256(tc.revoked) || re.CA != tc.ca || re.Line != 2 || !strings.Contains(err.Error(), "k1") {
					t.Fatalf("policy %d: %+v: %v", policy, re, err)
				}
			}
			if ok, _ := tc.f.openSSHAccepts(t, tc.f.known, tc.f.server.Address); ok {
				t.Errorf("OpenSSH accepts what kubeha refuses")
			}
		})
	}
}

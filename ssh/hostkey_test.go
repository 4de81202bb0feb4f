package ssh

import (
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
	return got, err
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
// same one OpenSSH's accept-new records (ed25519), in a line OpenSSH finds
// and accepts.
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

	known := filepath.Join(t.TempDir(), "known_hosts")
	cfg := f.config("k1")
	cfg.HostKeys = NewKnownHosts(known, HostKeyAcceptNew)
	key, err := presented(t, cfg)
	if err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	data, _ = os.ReadFile(known)
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
	if name != f.knownName(f.server.Address) {
		t.Fatalf("host name %q", name)
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
}

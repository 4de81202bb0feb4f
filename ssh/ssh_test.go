package ssh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubeha/kubeha/e2e/sshd"
)

// requireSSHD skips only where sshd cannot run at all (not root, not
// installed); CI installs it, so there these tests always run.
func requireSSHD(t *testing.T) {
	t.Helper()
	if err := sshd.Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must be able to run sshd: %v", err)
		}
		t.Skip(err)
	}
}

type fixture struct {
	dir    string
	key    *sshd.ClientKey
	server *sshd.Server
	known  string
}

// newFixture starts an sshd on loopback that accepts a fresh client key and
// writes a known_hosts holding its host key.
func newFixture(t *testing.T, o sshd.Options) *fixture {
	t.Helper()
	requireSSHD(t)
	dir := t.TempDir()
	key, err := sshd.NewClientKey(filepath.Join(dir, "id_ed25519"), "")
	if err != nil {
		t.Fatal(err)
	}
	o.Dir = dir
	o.AuthorizedKeys = append(o.AuthorizedKeys, key.Public)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := sshd.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	known := filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, srv.HostKey)
	if err := os.WriteFile(known, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, key: key, server: srv, known: known}
}

func (f *fixture) config(name string) Config {
	return Config{
		Name:     name,
		Address:  f.server.Address,
		Port:     f.server.Port,
		User:     "root",
		KeyPaths: []string{f.key.Path},
		HostKeys: NewKnownHosts(f.known, HostKeyStrict),
	}
}

func dialT(t *testing.T, cfg Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func runT(t *testing.T, c *Client, script string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Run(ctx, Command{Script: script})
	if err != nil {
		t.Fatalf("run %q: %v", script, err)
	}
	return res
}

func TestKeyAuthRunAndExitCodes(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	c := dialT(t, f.config("k1"))
	if got := runT(t, c, "echo hello; echo warn >&2").Stdout; got != "hello\n" {
		t.Fatalf("stdout %q", got)
	}
	var lines []string
	var mu sync.Mutex
	ctx := context.Background()
	_, err := c.Run(ctx, Command{Script: "echo one; echo two >&2; read -r s; echo \"oops: token=$s\" >&2; exit 7", Secrets: []string{"abc123def456"},
		Stdin:  strings.NewReader("abc123def456\n"),
		OnLine: func(s, l string) { mu.Lock(); lines = append(lines, s+":"+l); mu.Unlock() }})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("want ExitError, got %v", err)
	}
	if ee.ExitCode != 7 || ee.Host != "k1" || !strings.Contains(ee.Stderr, "two") {
		t.Fatalf("exit error %+v", ee)
	}
	if strings.Contains(err.Error(), "abc123def456") {
		t.Fatalf("secret in error: %v", err)
	}
	if len(lines) != 3 {
		t.Fatalf("streamed lines %v", lines)
	}
	// A secret in the script's text would be in the host's process list:
	// refused before anything runs.
	res0, err := c.Run(ctx, Command{Name: "create a token", Script: "touch /tmp/kh-ran-$$; echo abc123def456", Secrets: []string{"abc123def456"}})
	if !errors.Is(err, ErrSecretInCommandLine) || res0.Stdout != "" {
		t.Fatalf("secret in the script: want ErrSecretInCommandLine and no run, got %q %v", res0.Stdout, err)
	}
	if want := `k1: create a token: ` + ErrSecretInCommandLine.Error(); err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	// Bytes come back exactly, including a last line without newline.
	if got := runT(t, c, "printf 'a\\nb'").Stdout; got != "a\nb" {
		t.Fatalf("stdout %q", got)
	}
	// Stdin reaches the command.
	res, err := c.Run(ctx, Command{Script: "cat", Stdin: strings.NewReader("from stdin")})
	if err != nil || res.Stdout != "from stdin" {
		t.Fatalf("stdin: %q %v", res.Stdout, err)
	}
}

func TestEncryptedKeyUsesPassphrase(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	enc, err := sshd.NewClientKey(filepath.Join(f.dir, "id_enc"), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.dir, "authorized_keys"), xssh.MarshalAuthorizedKey(enc.Public), 0o644)
	cfg := f.config("k1")
	cfg.KeyPaths = []string{enc.Path}
	_, err = Dial(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "KUBEHA_SSH_KEY_PASSPHRASE") {
		t.Fatalf("encrypted key without passphrase: %v", err)
	}
	cfg.Passphrase = func(string) (string, error) { return "correct horse", nil }
	c := dialT(t, cfg)
	runT(t, c, "true")
}

// TestUnlockKeys: every encrypted key a dial would offer, the bastion's
// included, has its passphrase asked for (and checked) at once.
func TestUnlockKeys(t *testing.T) {
	dir := t.TempDir()
	plain, err := sshd.NewClientKey(filepath.Join(dir, "plain"), "")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sshd.NewClientKey(filepath.Join(dir, "enc"), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	cases := []struct {
		name    string
		keys    []string
		bastion []string
		answer  string
		askErr  error    // what Passphrase returns instead of answer
		noAsk   bool     // Passphrase is nil
		asked   []string // paths Passphrase was asked about
		wantErr string   // the whole message
	}{
		{name: "plain and missing keys", keys: []string{plain.Path, missing}},
		{name: "encrypted", keys: []string{plain.Path, enc.Path}, answer: "correct horse", asked: []string{enc.Path}},
		{name: "bastion's encrypted key", keys: []string{plain.Path}, bastion: []string{enc.Path}, answer: "correct horse", asked: []string{enc.Path}},
		{name: "one key, asked once", keys: []string{enc.Path}, bastion: []string{enc.Path}, answer: "correct horse", asked: []string{enc.Path}},
		{name: "wrong passphrase", keys: []string{enc.Path}, answer: "wrong", asked: []string{enc.Path},
			wantErr: "key " + enc.Path + ": wrong passphrase: check KUBEHA_SSH_KEY_PASSPHRASE, or the passphrase typed, and that this is the right key"},
		// Passphrase's error names the key itself; it is not wrapped with
		// the key's path a second time.
		{name: "passphrase not to be had", keys: []string{enc.Path}, askErr: errors.New("passphrase for " + enc.Path + " needed: set KUBEHA_SSH_KEY_PASSPHRASE"),
			asked: []string{enc.Path}, wantErr: "passphrase for " + enc.Path + " needed: set KUBEHA_SSH_KEY_PASSPHRASE"},
		{name: "no way to ask", keys: []string{enc.Path}, noAsk: true,
			wantErr: "key " + enc.Path + " is encrypted: set KUBEHA_SSH_KEY_PASSPHRASE or run on a terminal to be asked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			ask := func(path string) (string, error) { asked = append(asked, path); return tc.answer, tc.askErr }
			if tc.noAsk {
				ask = nil
			}
			cfg := Config{Name: "k1", KeyPaths: tc.keys, Passphrase: ask}
			if tc.bastion != nil {
				cfg.Bastion = &Config{Name: "bastion", KeyPaths: tc.bastion, Passphrase: ask}
			}
			err := UnlockKeys(cfg)
			if fmt.Sprint(asked) != fmt.Sprint(tc.asked) {
				t.Errorf("asked about %v, want %v", asked, tc.asked)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestUnknownHostKeyRefusedThenAcceptedNew(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	empty := filepath.Join(f.dir, "empty_known_hosts")
	cfg := f.config("k1")
	cfg.HostKeys = NewKnownHosts(empty, HostKeyStrict)
	_, err := Dial(context.Background(), cfg)
	var uk *UnknownHostKeyError
	if !errors.As(err, &uk) {
		t.Fatalf("want UnknownHostKeyError, got %v", err)
	}
	wantFP := xssh.FingerprintSHA256(f.server.HostKey)
	if uk.Fingerprint != wantFP || !strings.Contains(err.Error(), "--accept-new-host-keys") || !strings.Contains(err.Error(), "k1") {
		t.Fatalf("message should name host, fingerprint and flag: %v", err)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Fatal("strict mode wrote known_hosts")
	}
	cfg.HostKeys = NewKnownHosts(empty, HostKeyAcceptNew)
	c := dialT(t, cfg)
	runT(t, c, "true")
	data, _ := os.ReadFile(empty)
	if !strings.Contains(string(data), strings.TrimSpace(string(xssh.MarshalAuthorizedKey(f.server.HostKey)))) {
		t.Fatalf("accept-new did not record the key: %q", data)
	}
	fi, _ := os.Stat(empty)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %v", fi.Mode().Perm())
	}
	// Now strict mode accepts it, and OpenSSH reads the same line.
	cfg.HostKeys = NewKnownHosts(empty, HostKeyStrict)
	dialT(t, cfg)
	out, err := exec.Command("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+empty, "-i", f.key.Path, "-p", fmt.Sprint(f.server.Port), "root@"+f.server.Address, "echo ok").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("OpenSSH rejects the recorded line: %v %s", err, out)
	}
}

func TestChangedHostKeyAlwaysRefused(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	other, err := sshd.NewClientKey(filepath.Join(f.dir, "other"), "")
	if err != nil {
		t.Fatal(err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(f.server.Addr())}, other.Public)
	os.WriteFile(f.known, []byte(line+"\n"), 0o600)
	for _, policy := range []HostKeyPolicy{HostKeyStrict, HostKeyAcceptNew} {
		cfg := f.config("k2")
		cfg.HostKeys = NewKnownHosts(f.known, policy)
		_, err := Dial(context.Background(), cfg)
		var ck *ChangedHostKeyError
		if !errors.As(err, &ck) {
			t.Fatalf("policy %d: want ChangedHostKeyError, got %v", policy, err)
		}
		if ck.Known != xssh.FingerprintSHA256(other.Public) || ck.Fingerprint != xssh.FingerprintSHA256(f.server.HostKey) || ck.Line != 1 {
			t.Fatalf("changed key error lacks fingerprints or line: %v", err)
		}
	}
}

func TestAgentAuth(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	sock := filepath.Join(f.dir, "agent.sock")
	agentCmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agentCmd.Process.Kill(); agentCmd.Wait() })
	// ssh-agent is listening once its socket exists; ssh-add before that
	// fails with a message that would hide the real cause.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-agent did not create %s within 10 s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
	add := exec.Command("ssh-add", f.key.Path)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	cfg := f.config("k1")
	cfg.KeyPaths = nil
	cfg.AgentSocket = sock
	c := dialT(t, cfg)
	runT(t, c, "true")
}

// testUser creates a local user for password and sudo tests and removes it
// afterwards.
func testUser(t *testing.T, password, sudoers string) string {
	t.Helper()
	name := fmt.Sprintf("khtest%d", rand.IntN(1_000_000))
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v %s", err, out)
	}
	// sshd reads authorized_keys as the user: let it through the test's
	// private temporary directories (the keys in them stay 0600).
	for d := t.TempDir(); d != "/tmp" && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	sudoersFile := "/etc/sudoers.d/" + name
	t.Cleanup(func() {
		os.Remove(sudoersFile)
		exec.Command("pkill", "-KILL", "-u", name).Run()
		exec.Command("userdel", "-r", name).Run()
	})
	chp := exec.Command("chpasswd")
	chp.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := chp.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	if sudoers != "" {
		if _, err := exec.LookPath("sudo"); err != nil {
			t.Fatal("sudo is not installed (apt-get install sudo)")
		}
		if err := os.WriteFile(sudoersFile, []byte(name+" "+sudoers+"\n"), 0o440); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

func TestPasswordAuth(t *testing.T) {
	f := newFixture(t, sshd.Options{Password: true})
	user := testUser(t, "pw-Secret-123", "")
	cfg := f.config("k1")
	cfg.User = user
	cfg.KeyPaths = nil
	cfg.Password = func() (string, error) { return "wrong-password", nil }
	if _, err := Dial(context.Background(), cfg); err == nil {
		t.Fatal("wrong password accepted")
	} else if strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("password in error: %v", err)
	}
	// A password that cannot be had (cmd/kubeha's prompter while the live
	// view owns the terminal) fails the dial with the callback's own
	// words, which say what to do, not a bare "unable to authenticate".
	cfg.Password = func() (string, error) { return "", errors.New("SSH password needed: set KUBEHA_SSH_PASSWORD") }
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "set KUBEHA_SSH_PASSWORD") {
		t.Fatalf("a refused password prompt: %v", err)
	}
	cfg.Password = func() (string, error) { return "pw-Secret-123", nil }
	c := dialT(t, cfg)
	if got := strings.TrimSpace(runT(t, c, "id -un").Stdout); got != user {
		t.Fatalf("logged in as %q", got)
	}
}

func TestSudo(t *testing.T) {
	tests := []struct {
		name     string
		sudoers  string
		password func() (string, error)
		wantErr  error
	}{
		{"passwordless", "ALL=(ALL) NOPASSWD: ALL", nil, nil},
		{"with password", "ALL=(ALL) ALL", func() (string, error) { return "sudo-Pass-456", nil }, nil},
		{"password needed but not given", "ALL=(ALL) ALL", nil, ErrSudoPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sshd.Options{})
			user := testUser(t, "sudo-Pass-456", tt.sudoers)
			cfg := f.config("k1")
			cfg.User = user
			cfg.Sudo = true
			cfg.SudoPassword = tt.password
			c := dialT(t, cfg)
			ctx := context.Background()
			res, err := c.Run(ctx, Command{Script: "id -u; cat", Stdin: strings.NewReader("payload")})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("want %v, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Root, and the command's stdin is exactly the payload: the sudo
			// password never leaks into it.
			if res.Stdout != "0\npayload" {
				t.Fatalf("stdout %q", res.Stdout)
			}
			if strings.Contains(res.Stdout+res.Stderr, "sudo-Pass-456") {
				t.Fatal("sudo password in output")
			}
			// A second command after sudo cached the credential still works
			// and still does not see the password.
			res, err = c.Run(ctx, Command{Script: "cat", Stdin: strings.NewReader("again")})
			if err != nil || res.Stdout != "again" {
				t.Fatalf("second sudo command: %q %v", res.Stdout, err)
			}
			// Upload to a root-owned path through sudo.
			dst := filepath.Join("/root", "kubeha-test-"+user, "conf")
			t.Cleanup(func() { os.RemoveAll(filepath.Dir(dst)) })
			if err := c.Upload(ctx, File{Path: dst, Content: strings.NewReader("root only\n"), Mode: 0o600}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil || string(got) != "root only\n" {
				t.Fatalf("uploaded content %q %v", got, err)
			}
			fi, _ := os.Stat(dst)
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v", fi.Mode().Perm())
			}
			if out, _ := exec.Command("stat", "-c", "%U", dst).Output(); strings.TrimSpace(string(out)) != "root" {
				t.Fatalf("owner %q", out)
			}
			leftovers, _ := filepath.Glob("/tmp/.kubeha-upload-*")
			for _, l := range leftovers {
				if owner, _ := exec.Command("stat", "-c", "%U", l).Output(); strings.TrimSpace(string(owner)) == user {
					t.Fatalf("staging file left behind: %s", l)
				}
			}
		})
	}
}

func pgrep(pattern string) bool {
	return exec.Command("pgrep", "-f", pattern).Run() == nil
}

func TestCancelKillsRemoteProcess(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	c := dialT(t, f.config("k1"))
	marker := fmt.Sprintf("sleep %d", 30000+rand.IntN(9999))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		// A child of a child, so only killing the process group works.
		_, err := c.Run(ctx, Command{Script: "sh -c '" + marker + "; true' & wait"})
		errc <- err
	}()
	// Cancel only once the grandchild sleep itself runs. The shells above
	// it carry the marker in their command lines from the moment the
	// session starts, so an unanchored match would let the cancel land
	// before there is any grandchild to leave behind, and the test would
	// pass without proving the process group is killed.
	deadline := time.Now().Add(60 * time.Second)
	for !pgrep("^" + marker + "$") {
		if time.Now().After(deadline) {
			t.Fatal("remote command never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	deadline = time.Now().Add(60 * time.Second)
	for pgrep(marker) {
		if time.Now().After(deadline) {
			t.Fatal("remote process still running after cancel")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The connection is still usable.
	runT(t, c, "true")
}

// cutter is a TCP proxy whose live connections the test can cut, like a
// network failure between kubeha and a host, or silence, like a host that
// lost power: bytes are swallowed and nothing ever answers.
type cutter struct {
	l      net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	silent atomic.Bool
}

// pipe copies src to dst until either fails, dropping bytes while silent.
func (c *cutter) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.silent.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func newCutter(t *testing.T, target string) *cutter {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{l: l}
	t.Cleanup(func() { l.Close(); c.cut() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go c.pipe(out, in)
			go c.pipe(in, out)
		}
	}()
	return c
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.conns {
		x.Close()
	}
	c.conns = nil
}

// proxiedConfig is k1's config reaching the server through proxy, with the
// server's key recorded for the proxy's address (known_hosts is keyed by
// address:port).
func proxiedConfig(f *fixture, proxy *cutter) Config {
	cfg := f.config("k1")
	host, port, _ := net.SplitHostPort(proxy.l.Addr().String())
	cfg.Address = host
	fmt.Sscan(port, &cfg.Port)
	line := knownhosts.Line([]string{knownhosts.Normalize(proxy.l.Addr().String())}, f.server.HostKey)
	os.WriteFile(f.known, []byte(line+"\n"), 0o600)
	return cfg
}

// runStarted runs script on c in the background and returns once the
// remote command has printed "started" on stdout, so the session is open
// and the command is running on the host. A test that then breaks the
// connection is sure to break it during the command, not while the session
// is being opened (Run would then re-dial, or fail to dial, instead of
// reporting a lost command). The channel yields Run's error.
func runStarted(t *testing.T, c *Client, script string) <-chan error {
	t.Helper()
	started := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), Command{Script: "echo started; " + script,
			OnLine: func(stream, line string) {
				if stream == "stdout" && line == "started" {
					once.Do(func() { close(started) })
				}
			}})
		errc <- err
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("%q ended before it started: %v", script, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("%q did not start within 60 s", script)
	}
	return errc
}

func TestConnectionCutThenReconnect(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	proxy := newCutter(t, f.server.Addr())
	c := dialT(t, proxiedConfig(f, proxy))
	runT(t, c, "true")
	errc := runStarted(t, c, "sleep 20")
	proxy.cut()
	select {
	case err := <-errc:
		var lost *ConnectionLostError
		if !errors.As(err, &lost) || lost.Host != "k1" {
			t.Fatalf("want ConnectionLostError naming k1, got %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not notice the cut connection")
	}
	// The next command reconnects by itself.
	if got := runT(t, c, "echo back").Stdout; got != "back\n" {
		t.Fatalf("after reconnect: %q", got)
	}
}

// A host that goes silent (power loss: no FIN, no RST) is noticed by the
// keepalive within two intervals, and the running command fails instead of
// waiting for TCP to give up.
func TestSilentHostIsNoticed(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	proxy := newCutter(t, f.server.Addr())
	cfg := proxiedConfig(f, proxy)
	cfg.KeepAlive = 300 * time.Millisecond
	c := dialT(t, cfg)
	runT(t, c, "true")
	errc := runStarted(t, c, "sleep 60")
	proxy.silent.Store(true)
	select {
	case err := <-errc:
		var lost *ConnectionLostError
		if !errors.As(err, &lost) || lost.Host != "k1" {
			t.Fatalf("want ConnectionLostError naming k1, got %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a silent host was not noticed within 60 s (keepalive every 300 ms)")
	}
}

// patternReader yields n deterministic pseudo-random bytes.
func patternReader(n int64, seed uint64) io.Reader {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return io.LimitReader(readerFunc(func(b []byte) (int, error) {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return len(b), nil
	}), n)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

func TestUpload100MBVerified(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	c := dialT(t, f.config("k1"))
	const size = 100 << 20
	h := sha256.New()
	io.Copy(h, patternReader(size, 42))
	want := hex.EncodeToString(h.Sum(nil))
	dst := filepath.Join(f.dir, "remote", "big.bin")
	var last int64
	start := time.Now()
	err := c.Upload(context.Background(), File{Path: dst, Content: patternReader(size, 42), Size: size, Mode: 0o640,
		Progress: func(n int64) { last = n }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100 MiB in %v", time.Since(start))
	if last != size {
		t.Fatalf("progress ended at %d", last)
	}
	got, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	h2 := sha256.New()
	io.Copy(h2, got)
	if hex.EncodeToString(h2.Sum(nil)) != want {
		t.Fatal("content differs")
	}
	fi, _ := os.Stat(dst)
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	// Download returns exact bytes.
	os.WriteFile(filepath.Join(f.dir, "small"), []byte("a\nb"), 0o600)
	b, err := c.Download(context.Background(), filepath.Join(f.dir, "small"))
	if err != nil || !bytes.Equal(b, []byte("a\nb")) {
		t.Fatalf("download %q %v", b, err)
	}
}

func TestUploadRemovesStaleTempFiles(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	c := dialT(t, f.config("k1"))
	dst := filepath.Join(f.dir, "etc", "app.conf")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	stale := filepath.Join(filepath.Dir(dst), ".app.conf.kubeha-deadbeef")
	os.WriteFile(stale, []byte("half an upload"), 0o600)
	other := filepath.Join(filepath.Dir(dst), ".other.conf.kubeha-deadbeef")
	os.WriteFile(other, []byte("another destination's"), 0o600)
	if err := c.Upload(context.Background(), File{Path: dst, Content: strings.NewReader("new\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("stale temporary file of the destination left behind")
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatal("another destination's temporary file was removed")
	}
}

func TestUploadFailureKeepsOldFile(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	c := dialT(t, f.config("k1"))
	dst := filepath.Join(f.dir, "keep.conf")
	os.WriteFile(dst, []byte("old\n"), 0o644)
	// A reader that fails half-way, like a local disk error.
	bad := io.MultiReader(strings.NewReader("partial new content"), readerFunc(func([]byte) (int, error) { return 0, errors.New("read failed") }))
	err := c.Upload(context.Background(), File{Path: dst, Content: bad})
	var ue *UploadError
	if !errors.As(err, &ue) || ue.Host != "k1" {
		t.Fatalf("want UploadError, got %v", err)
	}
	got, _ := os.ReadFile(dst)
	if string(got) != "old\n" {
		t.Fatalf("destination changed: %q", got)
	}
	entries, _ := os.ReadDir(f.dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "kubeha-") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}

type xsshPublicKey = xssh.PublicKey

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }

// A small config written to a disk that is already full: OpenSSH's
// sftp-server let the write "succeed" with an empty temporary file here, so
// only the checksum catches it; the error must still say the disk is full,
// and the old file must stay.
func TestSmallUploadToAFullDisk(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	c := dialT(t, f.config("k1"))
	small := smallDisk(t, f.dir, "64k")
	dst := filepath.Join(small, "haproxy.cfg")
	os.WriteFile(dst, []byte("old\n"), 0o644)
	exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(small, "fill"), "bs=4k").Run()
	err := c.Upload(context.Background(), File{Path: dst, Content: strings.NewReader(strings.Repeat("x", 3000)), Size: 3000})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "k1") || !strings.Contains(err.Error(), small) {
		t.Fatalf("want ErrNoSpace naming the host and the directory, got %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old\n" {
		t.Fatalf("destination changed: %q", b)
	}
	entries, _ := os.ReadDir(small)
	if len(entries) != 2 {
		t.Fatalf("a temporary file was left: %v", entries)
	}
}

// smallDisk mounts a tmpfs of size under dir, unmounted when the test ends.
func smallDisk(t *testing.T, dir, size string) string {
	t.Helper()
	p := filepath.Join(dir, "disk-"+size)
	os.MkdirAll(p, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", p).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", p).Run() })
	return p
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 3000: "2.9 KiB", 8 << 20: "8.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestUploadRefusesWhenTheDiskIsFull(t *testing.T) {
	f := newFixture(t, sshd.Options{})
	c := dialT(t, f.config("k1"))
	small := smallDisk(t, f.dir, "4m")
	dst := filepath.Join(small, "big.bin")
	os.WriteFile(dst, []byte("old\n"), 0o644)
	err := c.Upload(context.Background(), File{Path: dst, Content: patternReader(8<<20, 7), Size: 8 << 20})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "free,") || !strings.Contains(err.Error(), "8.0 MiB needed") || !strings.Contains(err.Error(), "k1") {
		t.Fatalf("want ErrNoSpace naming the host and numbers, got %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old\n" {
		t.Fatalf("destination changed: %q", b)
	}
	entries, _ := os.ReadDir(small)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

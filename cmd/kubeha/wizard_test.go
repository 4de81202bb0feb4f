package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
)

// dialView is what decides where and as whom a Config connects, and how
// the host's key is recorded: the fields the installer's check and apply
// must agree on.
func dialView(cfg ssh.Config) string {
	v := fmt.Sprintf("%s@%s:%d keys=%v agent=%q hash=%v", cfg.User, cfg.Address, cfg.Port, cfg.KeyPaths, cfg.AgentSocket, cfg.HashKnownHosts)
	if b := cfg.Bastion; b != nil {
		v += fmt.Sprintf(" via %s@%s:%d keys=%v agent=%q hash=%v", b.User, b.Address, b.Port, b.KeyPaths, b.AgentSocket, b.HashKnownHosts)
	}
	return v
}

// TestSSHCheckerDialsAsApply: the installer's check dials each host with
// the Config apply resolves for it, ~/.ssh/config's Host block (HostName,
// User, Port, IdentityFile, ProxyJump, HashKnownHosts), the agent and the
// inventory's bastion included, and checks its key against the same
// known_hosts file, strictly.
func TestSSHCheckerDialsAsApply(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "/run/agent.sock")
	t.Setenv(envSSHPassword, "")
	t.Setenv(envKeyPassphrase, "")
	sc := fakeSSHConfig{"m1.lab": {
		"HostName": {"10.1.0.11"}, "User": {"ops"}, "Port": {"2222"},
		"IdentityFile": {"~/.ssh/lab_key"}, "ProxyJump": {"jump@bastion.lab:2200"},
		"HashKnownHosts": {"yes"},
	}}
	tests := []struct {
		name string
		edit func(c *inventory.Cluster)
		host int
		want string
	}{
		{
			name: "the Host block fills what the inventory leaves open",
			want: "ops@10.1.0.11:2222 keys=[" + home + "/.ssh/lab_key] agent=\"/run/agent.sock\" hash=true" +
				" via jump@bastion.lab:2200 keys=[" + home + "/.ssh/lab_key] agent=\"/run/agent.sock\" hash=false",
		},
		{
			name: "spec.ssh wins over the Host block",
			edit: func(c *inventory.Cluster) {
				c.Spec.SSH.User, c.Spec.SSH.Port, c.Spec.SSH.KeyPath = "admin", 22, "/keys/id"
			},
			want: "admin@10.1.0.11:22 keys=[/keys/id] agent=\"/run/agent.sock\" hash=true" +
				" via jump@bastion.lab:2200 keys=[/keys/id] agent=\"/run/agent.sock\" hash=false",
		},
		{
			name: "the host's own settings win over both",
			edit: func(c *inventory.Cluster) {
				c.Spec.SSH.User = "admin"
				c.Spec.Hosts[0].SSH = &inventory.HostSSH{User: "ubuntu", Port: 2200, KeyPath: "/keys/m1"}
			},
			want: "ubuntu@10.1.0.11:2200 keys=[/keys/m1] agent=\"/run/agent.sock\" hash=true" +
				" via jump@bastion.lab:2200 keys=[/keys/m1] agent=\"/run/agent.sock\" hash=false",
		},
		{
			name: "the inventory's bastion wins over ProxyJump; no agent when useAgent is false",
			edit: func(c *inventory.Cluster) {
				c.Spec.SSH.Bastion = &inventory.Bastion{Address: "203.0.113.5", Port: 22, User: "jump2", KeyPath: "/keys/jump"}
				no := false
				c.Spec.SSH.UseAgent = &no
			},
			want: "ops@10.1.0.11:2222 keys=[" + home + "/.ssh/lab_key] agent=\"\" hash=true" +
				" via jump2@203.0.113.5:22 keys=[/keys/jump] agent=\"\" hash=false",
		},
		{
			name: "a host without a Host block: OpenSSH's defaults",
			host: 1,
			want: "root@10.0.0.12:22 keys=[" + home + "/.ssh/id_ed25519 " + home + "/.ssh/id_ecdsa " + home + "/.ssh/id_rsa] agent=\"/run/agent.sock\" hash=false",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := inventory.Parse([]byte(`apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: lab}
spec:
  ssh: {knownHostsPath: /keys/known_hosts, sudo: true}
  hosts:
  - {name: m1, address: m1.lab, internalAddress: 10.1.0.11, role: master}
  - {name: m2, address: 10.0.0.12, role: master}
  - {name: m3, address: 10.0.0.13, role: master}
  loadBalancer: {vip: 10.0.0.100}
`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				tt.edit(c)
			}
			k := &sshChecker{sshConfig: sc}
			got := k.config(context.Background(), c, c.Spec.Hosts[tt.host])
			if v := dialView(got); v != tt.want {
				t.Errorf("the check dials\n%s\nwant\n%s", v, tt.want)
			}
			applies, err := sshConfigs(context.Background(), c, connectOptions{secrets: &events.Secrets{}, events: &events.Recorder{},
				stdin: strings.NewReader(""), stderr: &bytes.Buffer{}}, sc)
			if err != nil {
				t.Fatal(err)
			}
			if a, v := dialView(applies[tt.host]), dialView(got); a != v {
				t.Errorf("the check dials\n%s\napply dials\n%s", v, a)
			}
			if got.HostKeys != k.knownHosts("/keys/known_hosts") || (got.Bastion != nil && got.Bastion.HostKeys != got.HostKeys) {
				t.Error("the check does not check keys against spec.ssh.knownHostsPath")
			}
			if got.Sudo || got.SudoPassword != nil {
				t.Error("the check logs in only; sudo is for the run")
			}
		})
	}
}

// TestSSHCheckerScanAcceptLogin: against a real sshd, reached only as
// apply reaches it (the inventory names an alias that ~/.ssh/config
// resolves, a key that only the agent holds, a jump host), the installer's
// checker shows the host's real key, refuses to log in before the operator
// accepts it, records it once however often it is accepted, then logs in
// with the key checked strictly; and apply's dial agrees at every step. A
// jump host that does not answer fails both, though the host itself is up.
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
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(name string) *sshd.Server {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		srv, err := sshd.Start(ctx, sshd.Options{Dir: d, AuthorizedKeys: []xssh.PublicKey{key.Public}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		return srv
	}
	srv, jump := start("host"), start("jump")
	agentSock := serveAgent(t, dir, key.Path)
	port, jumpPort := fmt.Sprint(srv.Port), fmt.Sprint(jump.Port)
	// A port nothing listens on: the jump host that does not answer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	// m1.invalid resolves nowhere (RFC 6761): only ~/.ssh/config leads to
	// the host.
	const alias = "m1.invalid"
	tests := []struct {
		name    string
		block   map[string][]string // ~/.ssh/config's Host block for alias
		agent   bool                // SSH_AUTH_SOCK names an agent holding the key
		wantErr string              // the scan fails, apply's dial as well
	}{
		{name: "HostName, Port, User, IdentityFile",
			block: map[string][]string{"HostName": {"127.0.0.1"}, "Port": {port}, "User": {me.Username}, "IdentityFile": {key.Path}}},
		{name: "the key in the agent only", agent: true,
			block: map[string][]string{"HostName": {"127.0.0.1"}, "Port": {port}, "User": {me.Username}}},
		{name: "through ProxyJump",
			block: map[string][]string{"HostName": {"127.0.0.1"}, "Port": {port}, "User": {me.Username}, "IdentityFile": {key.Path},
				"ProxyJump": {me.Username + "@127.0.0.1:" + jumpPort}}},
		{name: "a ProxyJump that does not answer", wantErr: "bastion 127.0.0.1:" + deadPort,
			block: map[string][]string{"HostName": {"127.0.0.1"}, "Port": {port}, "User": {me.Username}, "IdentityFile": {key.Path},
				"ProxyJump": {me.Username + "@127.0.0.1:" + deadPort}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", t.TempDir()) // no default keys of the user running the test
			t.Setenv(envSSHPassword, "")
			t.Setenv(envKeyPassphrase, "")
			t.Setenv("SSH_AUTH_SOCK", "")
			if tt.agent {
				t.Setenv("SSH_AUTH_SOCK", agentSock)
			}
			known := filepath.Join(dir, fmt.Sprintf("known_hosts.%d", i))
			// The jump host's key is known: it is checked as strictly.
			if err := os.WriteFile(known, []byte(knownLine(jump)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c, _, err := inventory.Parse([]byte(`apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: lab}
spec:
  ssh: {knownHostsPath: ` + known + `}
  hosts:
  - {name: m1, address: ` + alias + `, internalAddress: 10.1.0.11, role: master}
  loadBalancer: {vip: 10.1.0.100}
`))
			if err != nil {
				t.Fatal(err)
			}
			sc := fakeSSHConfig{alias: tt.block}
			k := &sshChecker{sshConfig: sc}
			h := c.Spec.Hosts[0]
			applyDial := func() error {
				cfgs, err := sshConfigs(context.Background(), c, connectOptions{secrets: &events.Secrets{}, events: &events.Recorder{},
					stdin: strings.NewReader(""), stderr: &bytes.Buffer{}}, sc)
				if err != nil {
					return err
				}
				cl, err := ssh.Dial(ctx, cfgs[0])
				if err == nil {
					cl.Close()
				}
				return err
			}

			hk, err := k.Scan(ctx, c, h)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("scan: %v, want an error with %q", err, tt.wantErr)
				}
				if err := k.Login(ctx, c, h); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("login: %v, want an error with %q", err, tt.wantErr)
				}
				if err := applyDial(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("apply's dial: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := xssh.FingerprintSHA256(srv.HostKey); hk.Fingerprint != want {
				t.Fatalf("scanned %s, the host's key is %s", hk.Fingerprint, want)
			}
			var uk *ssh.UnknownHostKeyError
			if err := k.Login(ctx, c, h); !errors.As(err, &uk) {
				t.Fatalf("login before the key was accepted: want UnknownHostKeyError, got %v", err)
			}
			if err := applyDial(); !errors.As(err, &uk) {
				t.Fatalf("apply's dial before the key was accepted: want UnknownHostKeyError, got %v", err)
			}
			for range 2 {
				if err := k.Accept(c, h, hk); err != nil {
					t.Fatal(err)
				}
			}
			data, _ := os.ReadFile(known)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) != 2 || lines[1] != hk.Line() {
				t.Fatalf("known_hosts %q, want the jump host's line and %q", data, hk.Line())
			}
			if err := k.Login(ctx, c, h); err != nil {
				t.Fatalf("login after accepting: %v", err)
			}
			if err := applyDial(); err != nil {
				t.Fatalf("apply's dial after accepting: %v", err)
			}
		})
	}
}

// knownLine is srv's known_hosts line.
func knownLine(srv *sshd.Server) string {
	return "[" + srv.Address + "]:" + fmt.Sprint(srv.Port) + " " + strings.TrimSpace(string(xssh.MarshalAuthorizedKey(srv.HostKey)))
}

// serveAgent runs an SSH agent holding the private key at keyPath on a
// socket in dir until the test ends, and returns the socket's path.
func serveAgent(t *testing.T, dir, keyPath string) string {
	t.Helper()
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := xssh.ParseRawPrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				agent.ServeAgent(keyring, conn)
			}()
		}
	}()
	return sock
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

package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
)

// fakeSSHConfig answers like ~/.ssh/config for one alias.
type fakeSSHConfig map[string]map[string][]string

func (f fakeSSHConfig) Get(alias, key string) string {
	if v := f[alias][key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (f fakeSSHConfig) GetAll(alias, key string) []string { return f[alias][key] }

func TestResolvePrecedence(t *testing.T) {
	c, _, err := inventory.Parse(inventory.Example)
	if err != nil {
		t.Fatal(err)
	}
	c.Spec.SSH.User, c.Spec.SSH.Port, c.Spec.SSH.KeyPath = "", 0, ""
	sc := fakeSSHConfig{"192.168.8.191": {
		"HostName": {"k1.internal"}, "User": {"ops"}, "Port": {"2222"},
		"IdentityFile": {"~/.ssh/ops_key"}, "ProxyJump": {"jump@bastion.example:2200"},
	}}
	known := ssh.NewKnownHosts("/dev/null", ssh.HostKeyStrict)
	p := &prompter{in: strings.NewReader(""), secrets: &events.Secrets{}}

	// ~/.ssh/config fills what the inventory leaves open.
	got := resolve(context.Background(), c, c.Spec.Hosts[0], known, p, sc)
	if got.Address != "k1.internal" || got.User != "ops" || got.Port != 2222 || !strings.HasSuffix(got.KeyPaths[0], "/.ssh/ops_key") {
		t.Fatalf("ssh_config not applied: %+v", got)
	}
	if got.Bastion == nil || got.Bastion.Address != "bastion.example" || got.Bastion.User != "jump" || got.Bastion.Port != 2200 {
		t.Fatalf("ProxyJump not applied: %+v", got.Bastion)
	}

	// spec.ssh wins over ~/.ssh/config, and the host's own entry over both.
	c.Spec.SSH.User, c.Spec.SSH.Port = "admin", 22
	c.Spec.Hosts[0].SSH = &inventory.HostSSH{User: "ubuntu", KeyPath: "/keys/k1"}
	got = resolve(context.Background(), c, c.Spec.Hosts[0], known, p, sc)
	if got.User != "ubuntu" || got.Port != 22 || got.KeyPaths[0] != "/keys/k1" {
		t.Fatalf("precedence wrong: %+v", got)
	}

	// The inventory's bastion wins over ProxyJump.
	c.Spec.SSH.Bastion = &inventory.Bastion{Address: "203.0.113.5", Port: 22, User: "jump2"}
	got = resolve(context.Background(), c, c.Spec.Hosts[0], known, p, sc)
	if got.Bastion.Address != "203.0.113.5" || got.Bastion.User != "jump2" {
		t.Fatalf("inventory bastion: %+v", got.Bastion)
	}

	// Nothing anywhere: OpenSSH's defaults.
	got = resolve(context.Background(), c, c.Spec.Hosts[1], known, p, fakeSSHConfig{})
	if got.User != "admin" || got.Port != 22 || len(got.KeyPaths) != 3 || !strings.HasSuffix(got.KeyPaths[0], ".ssh/id_ed25519") {
		t.Fatalf("defaults: %+v", got)
	}
	// No terminal and no variable: no password method is offered.
	if got.Password != nil {
		t.Fatal("password method offered with no way to get a password")
	}
}

// TestResolveHashKnownHosts: HashKnownHosts from ~/.ssh/config reaches the
// host's Config and its ProxyJump or inventory bastion, each looked up under
// its own name, as OpenSSH does.
func TestResolveHashKnownHosts(t *testing.T) {
	c, _, err := inventory.Parse(inventory.Example)
	if err != nil {
		t.Fatal(err)
	}
	known := ssh.NewKnownHosts("/dev/null", ssh.HostKeyStrict)
	p := &prompter{in: strings.NewReader(""), secrets: &events.Secrets{}}
	h := c.Spec.Hosts[0]
	cases := []struct {
		name             string
		sc               fakeSSHConfig
		bastion          *inventory.Bastion
		host, viaBastion bool
	}{
		{name: "unset", sc: fakeSSHConfig{h.Address: {"ProxyJump": {"bastion.example"}}}},
		{name: "no", sc: fakeSSHConfig{h.Address: {"HashKnownHosts": {"no"}, "ProxyJump": {"bastion.example"}}}},
		{name: "yes for the host only", sc: fakeSSHConfig{h.Address: {"HashKnownHosts": {"yes"}, "ProxyJump": {"bastion.example"}}}, host: true},
		{name: "yes for both", sc: fakeSSHConfig{
			h.Address:         {"HashKnownHosts": {"Yes"}, "ProxyJump": {"jump@bastion.example:2200"}},
			"bastion.example": {"HashKnownHosts": {"yes"}},
		}, host: true, viaBastion: true},
		{name: "inventory bastion", sc: fakeSSHConfig{"203.0.113.5": {"HashKnownHosts": {"yes"}}},
			bastion: &inventory.Bastion{Address: "203.0.113.5", Port: 22}, viaBastion: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.Spec.SSH.Bastion = tc.bastion
			got := resolve(context.Background(), c, h, known, p, tc.sc)
			if got.HashKnownHosts != tc.host || got.Bastion == nil || got.Bastion.HashKnownHosts != tc.viaBastion {
				t.Fatalf("HashKnownHosts host %v bastion %+v, want %v and %v", got.HashKnownHosts, got.Bastion, tc.host, tc.viaBastion)
			}
		})
	}
}

// TestSSHConfigsForTheLiveView: for the live view, encrypted key files are
// unlocked before the view takes the terminal, so a passphrase that cannot
// be had, or is wrong, stops the run before the view starts. Without the
// view nothing is read until a host is dialled. Either way a password
// asked for during the run, with no terminal, names its variable and
// writes nothing (prompt_linux_test.go asks on a terminal).
func TestSSHConfigsForTheLiveView(t *testing.T) {
	dir := t.TempDir()
	enc, err := sshd.NewClientKey(filepath.Join(dir, "id_enc"), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		live       bool
		passphrase string
		wantErr    string
		// what an SSH password asked for during the run says
		passwordErr string
	}{
		{name: "live, passphrase given", live: true, passphrase: "correct horse", passwordErr: "SSH password needed: set " + envSSHPassword + " (no terminal to ask on)"},
		{name: "live, wrong passphrase", live: true, passphrase: "wrong",
			wantErr: "key " + enc.Path + ": wrong passphrase: check " + envKeyPassphrase + ", or the passphrase typed, and that this is the right key"},
		{name: "live, no passphrase", live: true, wantErr: "passphrase for " + enc.Path + " needed: set " + envKeyPassphrase + " (no terminal to ask on)"},
		{name: "plain, no passphrase yet", passwordErr: "SSH password needed: set " + envSSHPassword + " (no terminal to ask on)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envKeyPassphrase, tc.passphrase)
			t.Setenv(envSudoPassword, "")
			// Set, so that a password method is offered without a
			// terminal; unset below, as if the operator had not.
			t.Setenv(envSSHPassword, "placeholder")
			c, _, err := inventory.Parse(inventory.Example)
			if err != nil {
				t.Fatal(err)
			}
			c.Spec.SSH.KeyPath = enc.Path
			c.Spec.SSH.KnownHostsPath = filepath.Join(dir, "known_hosts")
			var stderr strings.Builder
			o := connectOptions{secrets: &events.Secrets{}, events: &events.Recorder{}, stdin: strings.NewReader(""), stderr: &stderr}
			if tc.live {
				o.view = &viewTerminal{}
			}
			configs, err := sshConfigs(context.Background(), c, o, fakeSSHConfig{})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv(envKeyPassphrase, "")
			t.Setenv(envSSHPassword, "")
			if tc.live {
				// Asked before the view: a dial gets it from memory.
				if pp, err := configs[2].Passphrase(enc.Path); err != nil || pp != tc.passphrase {
					t.Fatalf("passphrase during the run: %q, %v", pp, err)
				}
			}
			if _, err := configs[0].Password(); err == nil || err.Error() != tc.passwordErr {
				t.Fatalf("SSH password during the run: %v, want %q", err, tc.passwordErr)
			}
			if stderr.Len() != 0 {
				t.Fatalf("wrote to the terminal: %q", stderr.String())
			}
		})
	}
}

// TestKeyPassphraseErrors: a key passphrase that cannot be had, or is
// wrong, is reported in one message that names the key and what to do,
// each once, whether it stops the run before the live view or a host's
// dial in a plain run; the passphrase itself is never in it.
func TestKeyPassphraseErrors(t *testing.T) {
	dir := t.TempDir()
	enc, err := sshd.NewClientKey(filepath.Join(dir, "id_enc"), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "Wrong-Secret-13"
	missing := "passphrase for " + enc.Path + " needed: set " + envKeyPassphrase + " (no terminal to ask on)"
	wrongMsg := "key " + enc.Path + ": wrong passphrase: check " + envKeyPassphrase + ", or the passphrase typed, and that this is the right key"
	cases := []struct {
		name       string
		live       bool
		passphrase string
		want       string // the whole error; %s is the first host and its address in a dial's
	}{
		{name: "live, none", live: true, want: missing},
		{name: "live, wrong", live: true, passphrase: wrong, want: wrongMsg},
		{name: "plain dial, none", want: "%s: connect to %s: " + missing},
		{name: "plain dial, wrong", passphrase: wrong, want: "%s: connect to %s: " + wrongMsg},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envKeyPassphrase, tc.passphrase)
			t.Setenv(envSSHPassword, "")
			c, _, err := inventory.Parse(inventory.Example)
			if err != nil {
				t.Fatal(err)
			}
			c.Spec.SSH.KeyPath = enc.Path
			c.Spec.SSH.KnownHostsPath = filepath.Join(dir, "known_hosts")
			o := connectOptions{secrets: &events.Secrets{}, events: &events.Recorder{}, stdin: strings.NewReader(""), stderr: &strings.Builder{}}
			if tc.live {
				o.view = &viewTerminal{}
			}
			configs, err := sshConfigs(context.Background(), c, o, fakeSSHConfig{})
			want := tc.want
			if !tc.live {
				if err != nil {
					t.Fatal(err)
				}
				// The key is read before anything is dialled, so this
				// reaches no network.
				_, err = ssh.Dial(context.Background(), configs[0])
				want = fmt.Sprintf(tc.want, configs[0].Name, net.JoinHostPort(configs[0].Address, "22"))
			}
			if err == nil || err.Error() != want {
				t.Fatalf("error %v\nwant %s", err, want)
			}
			if strings.Contains(err.Error(), wrong) {
				t.Fatalf("the passphrase is in the message: %v", err)
			}
		})
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/tui/wizard"
)

func (c *cmdContext) tuiCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Walk through the hosts, load balancer and network, save the inventory, and apply it",
		Long: `The terminal installer: cluster name and version, each host with a live SSH
check and its host-key fingerprint to accept, the load balancer (asking only
what the mode needs), the CIDRs; every field checked as you type by the same
rules as 'kubeha inventory validate'; a review; the inventory saved to -i;
then, if you say so, 'kubeha apply' on it with the live view.

A host's role is master, worker, loadbalancer or etcd. Hosts of role etcd
make the etcd external, built by kubeha on them (3 or 5 of them, as the
inventory wants); without any, etcd is stacked on the masters. An etcd of
your own (spec.etcd.external.endpoints) is not asked for: write it in the
file, and the installer keeps it.

The SSH check reaches each host as apply will with the inventory as it
stands: the host's and spec.ssh's settings (the bastion included), then
~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump), and the SSH
agent. It only logs in (sudo is not tried), and cannot ask for a key
passphrase or a password while it draws: set KUBEHA_SSH_KEY_PASSPHRASE or
KUBEHA_SSH_PASSWORD before starting it.

When the -i file exists, the installer starts from it: every field it shows
is filled from the file, and what it does not ask for (kubeadm settings,
artifacts, your etcd's endpoints and files, CNI, pod routes, extra
certSANs, ...) is saved as the file has it. Each host from the file is
checked when the hosts screen is reached: a host whose key is in
known_hosts is logged into with the key
checked strictly, as apply does; a host whose key is not is shown with its
fingerprint to accept, like a host you add. A file that is not a valid
inventory stops the installer before it starts, with the problems and how
to fix them.

Saving rewrites the file whole, keeping its comments on what is still in
it and its mode; a new file is created 0600, as it names SSH keys. Either
way the file is written atomically (a temporary file beside it, renamed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.runWizard(cmd.Context(), &f)
		},
	}
	f.bind(cmd, false)
	f.etcdFiles = true
	return cmd
}

// runWizard runs the installer; when the operator asks, it applies the
// saved inventory under the live view.
func (c *cmdContext) runWizard(ctx context.Context, f *runFlags) error {
	base, err := installerStart(*c.invPath)
	if err != nil {
		return err
	}
	// Asked for by name, the installer needs only a terminal that can draw
	// it: CI=true (in the environment of a terminal multiplexer, say) does
	// not stop it, as it stops apply's live view.
	if !c.interactive() {
		return usageError{errors.New("the installer needs a terminal (stdin and stdout, TERM not dumb); without one, write the inventory with 'kubeha inventory init' and run 'kubeha apply'")}
	}
	checker := &sshChecker{secrets: c.app.secrets}
	m := wizard.New(checker, *c.invPath)
	if base != nil {
		m = wizard.NewFrom(checker, *c.invPath, base)
	}
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(c.app.stdin), tea.WithOutput(c.app.stdout))
	final, err := p.Run()
	m, _ = final.(wizard.Model)
	if err := c.installerEnd(m.Saved(), err); err != nil {
		return err
	}
	fmt.Fprintf(c.app.stdout, "inventory saved to %s\n", *c.invPath)
	if !m.Run() {
		fmt.Fprintf(c.app.stdout, "apply it with: %s\n", resumeCommand(*c.invPath, *c.stateDir))
		return nil
	}
	return c.runPhases(ctx, f, phases.Selection{})
}

// installerStart is the inventory the installer starts from: the file at
// path when there is one, nil (the installer's defaults) when there is
// none. A file that is there but cannot be read, or is not a valid
// inventory, is an installerFileError: the installer would save over it, so
// it does not start blank instead.
func installerStart(path string) (*inventory.Cluster, error) {
	c, _, err := inventory.Load(path)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	}
	return nil, installerFileError{path: path, err: err}
}

// installerFileError is an inventory file the installer cannot start from,
// found before anything is drawn. It unwraps to the cause, so an invalid
// inventory exits 2 as it does for every command.
type installerFileError struct {
	path string
	err  error
}

func (e installerFileError) Error() string {
	var ps inventory.Problems
	if !errors.As(e.err, &ps) {
		return fmt.Sprintf("cannot start the installer from %s: %v", e.path, e.err)
	}
	lines := make([]string, 0, len(ps))
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	return fmt.Sprintf("%s is not a valid inventory, so the installer cannot start from it:\n  %s", e.path, strings.Join(lines, "\n  "))
}

func (e installerFileError) Unwrap() error { return e.err }

// next is what printError adds below the error.
func (e installerFileError) next() string {
	fix := "Fix that"
	var ps inventory.Problems
	if errors.As(e.err, &ps) {
		fix = fmt.Sprintf("Fix the file (kubeha inventory validate -i %s lists the same problems)", e.path)
	}
	return fmt.Sprintf("Nothing was changed. %s and run kubeha tui -i %s again, or give -i a file that does not exist yet to start from the installer's defaults.", fix, e.path)
}

// installerEnd is the error that ends runWizard when the installer itself
// ended without a saved inventory or with an error (err, from the program;
// an interrupt is phases.ErrInterrupted or wraps context.Canceled), and nil
// when it ended cleanly after saving. No run has started at this point, so
// the error is a leftInstallerError.
func (c *cmdContext) installerEnd(saved bool, err error) error {
	switch {
	case err == nil && saved:
		return nil
	case err == nil:
		err = phases.ErrInterrupted
	}
	e := leftInstallerError{err: err}
	if saved {
		e.saved, e.apply = *c.invPath, resumeCommand(*c.invPath, *c.stateDir)
	}
	return e
}

// leftInstallerError ends the installer before any run started: no host
// was changed and there is no journal to continue from, so printError says
// that rather than pointing at the journal. It unwraps to the installer's
// error, so an interrupt still exits 3.
type leftInstallerError struct {
	err   error
	saved string // where the inventory was saved; "" when it was not
	apply string // the command that applies the saved inventory
}

func (e leftInstallerError) Error() string {
	if e.saved == "" {
		return "left the installer without saving: " + e.err.Error()
	}
	return "left the installer: " + e.err.Error()
}

func (e leftInstallerError) Unwrap() error { return e.err }

// next is what printError adds below the error: what is true now and what
// to do.
func (e leftInstallerError) next() string {
	if e.saved == "" {
		return "Nothing was changed on any host, and no inventory was saved."
	}
	return fmt.Sprintf("Nothing was changed on any host. The inventory was saved to %s; apply it with: %s", e.saved, e.apply)
}

// sshChecker is the installer's Checker over kubeha's own SSH client. It
// reaches a host with the ssh.Config apply would dial it with (resolve, as
// sshConfigs does): the host's SSH settings, spec.ssh, ~/.ssh/config
// (HostName, User, Port, IdentityFile, ProxyJump), the SSH agent and the
// inventory's bastion, so that the check and apply agree on which hosts
// can be reached. Host keys are checked as apply checks them by default,
// strictly against known_hosts, the bastion's included; only Accept adds
// to the file. It keeps one KnownHosts per file, so recording a key and
// the logins that read the file take the same lock, as apply's dials do.
type sshChecker struct {
	// sshConfig answers ~/.ssh/config questions; nil is the user's own
	// (userSSHConfig). Tests substitute one.
	sshConfig sshConfigSource
	// secrets registers the passphrases and passwords the check is given
	// (from the environment), so that no message shows them.
	secrets *events.Secrets

	mu    sync.Mutex
	known map[string]*ssh.KnownHosts
}

// knownHosts is the checker for the known_hosts file at path: strict, as
// apply's default; only Accept adds to it.
func (c *sshChecker) knownHosts(path string) *ssh.KnownHosts {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := expandHome(path)
	if c.known[p] == nil {
		if c.known == nil {
			c.known = map[string]*ssh.KnownHosts{}
		}
		c.known[p] = ssh.NewKnownHosts(p, ssh.HostKeyStrict)
	}
	return c.known[p]
}

// config is the ssh.Config apply dials h of cl with. The installer owns
// the terminal, so nothing is asked: a key passphrase or an SSH password
// comes from its environment variable, as for a run without a terminal.
// The check only logs in, so sudo is left out of it.
func (c *sshChecker) config(ctx context.Context, cl *inventory.Cluster, h inventory.Host) ssh.Config {
	sc := c.sshConfig
	if sc == nil {
		sc = userSSHConfig{}
	}
	secrets := c.secrets
	if secrets == nil {
		secrets = &events.Secrets{}
	}
	cfg := resolve(ctx, cl, h, c.knownHosts(cl.Spec.SSH.KnownHostsPath), &prompter{secrets: secrets}, sc)
	cfg.Sudo, cfg.SudoPassword = false, nil
	return cfg
}

// Scan offers no credentials: it only reads the host key, of the type apply
// will ask the host for, at the address apply will dial (through the
// bastion apply would use), so the key shown, and accepted, is the one
// apply and OpenSSH will be presented.
func (c *sshChecker) Scan(ctx context.Context, cl *inventory.Cluster, h inventory.Host) (ssh.HostKey, error) {
	cfg := c.config(ctx, cl, h)
	cfg.DialTimeout = 10 * time.Second
	return ssh.ScanHostKey(ctx, cfg)
}

// Accept records the key in known_hosts, hashed when ~/.ssh/config asks
// for it (HashKnownHosts) for the host, as apply's accept-new would.
func (c *sshChecker) Accept(cl *inventory.Cluster, h inventory.Host, key ssh.HostKey) error {
	// Nothing is dialled or asked: only known_hosts is written.
	cfg := c.config(context.Background(), cl, h)
	return cfg.HostKeys.Record(key, cfg.HashKnownHosts)
}

// Login logs in as apply will, the key checked strictly against
// known_hosts, and runs `true`.
func (c *sshChecker) Login(ctx context.Context, cl *inventory.Cluster, h inventory.Host) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	client, err := ssh.Dial(ctx, c.config(ctx, cl, h))
	if err != nil {
		return err
	}
	defer client.Close()
	_, err = client.Run(ctx, ssh.Command{Name: "login check", Script: "true"})
	return err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/kevinburke/ssh_config"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
)

// connectOptions are the SSH flags plus what connectSSH needs from the run.
type connectOptions struct {
	acceptNewHostKeys bool
	insecureHostKeys  bool

	secrets *events.Secrets
	events  events.Sink
	stdin   io.Reader
	stderr  io.Writer
	// view is set when the live view will own the terminal for the whole
	// run once connectSSH has returned: every question from then on goes
	// through it.
	view *viewTerminal
}

func (o *connectOptions) bind(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "record host keys that known_hosts lacks (like OpenSSH accept-new); changed keys are still refused")
	cmd.Flags().BoolVar(&o.insecureHostKeys, "insecure-ignore-host-keys", false, "do not check host keys at all (warns on every run; for throwaway labs only)")
}

// Environment variables for secrets a headless run cannot be asked for.
const (
	envSSHPassword   = "KUBEHA_SSH_PASSWORD"
	envSudoPassword  = "KUBEHA_SUDO_PASSWORD"
	envKeyPassphrase = "KUBEHA_SSH_KEY_PASSPHRASE"
)

// connectSSH builds the connection pool for the cluster's hosts. Nothing is
// dialled until a phase first needs a host. A question for a secret asked
// while ctx is done is not asked, and one on the terminal when it is done
// ends there: ctx is the command's, which Ctrl-C cancels.
func connectSSH(ctx context.Context, c *inventory.Cluster, o connectOptions) (phases.Hosts, func() error, error) {
	configs, err := sshConfigs(ctx, c, o, userSSHConfig{})
	if err != nil {
		return nil, nil, err
	}
	pool := ssh.NewPool(configs)
	return pool, pool.Close, nil
}

// sshConfigs resolves every host's ssh.Config, sharing one known_hosts
// checker and one prompter.
//
// With o.view, the secrets that can be known to be needed, the passphrases
// of encrypted key files, are asked for here, before the live view takes
// the terminal, so a wrong one ends the run before it starts. Whether a
// host wants an SSH or sudo password only shows once it is reached, so the
// prompter asks for those through o.view during the run: the view lends
// the terminal for the question and takes it back (see viewTerminal).
//
// The configs ask their questions under ctx, for as long as they are used:
// the callbacks of ssh.Config take no context of their own.
func sshConfigs(ctx context.Context, c *inventory.Cluster, o connectOptions, sc sshConfigSource) ([]ssh.Config, error) {
	if o.acceptNewHostKeys && o.insecureHostKeys {
		return nil, usageError{fmt.Errorf("--accept-new-host-keys and --insecure-ignore-host-keys contradict each other")}
	}
	policy := ssh.HostKeyStrict
	switch {
	case o.insecureHostKeys:
		policy = ssh.HostKeyInsecureIgnore
		o.events.Emit(events.Event{Kind: events.Warning, Message: "host keys are NOT checked (--insecure-ignore-host-keys): anyone on the path can impersonate these hosts"})
	case o.acceptNewHostKeys:
		policy = ssh.HostKeyAcceptNew
	}
	known := ssh.NewKnownHosts(expandHome(c.Spec.SSH.KnownHostsPath), policy)
	p := &prompter{in: o.stdin, out: o.stderr, secrets: o.secrets}
	var configs []ssh.Config
	for _, h := range c.Spec.Hosts {
		configs = append(configs, resolve(ctx, c, h, known, p, sc))
	}
	if o.view != nil {
		if err := ssh.UnlockKeys(configs...); err != nil {
			return nil, err
		}
		// Nothing else uses p yet: the pool dials on first use.
		p.view = o.view
	}
	return configs, nil
}

// sshConfigSource answers ~/.ssh/config questions; tests substitute one.
type sshConfigSource interface {
	Get(alias, key string) string
	GetAll(alias, key string) []string
}

type userSSHConfig struct{}

func (userSSHConfig) Get(alias, key string) string {
	v, _ := ssh_config.DefaultUserSettings.GetStrict(alias, key)
	return v
}

func (userSSHConfig) GetAll(alias, key string) []string {
	v, _ := ssh_config.DefaultUserSettings.GetAllStrict(alias, key)
	return v
}

// resolve gives each setting from, in order: the host's own inventory
// entry, spec.ssh, ~/.ssh/config for the host's address, OpenSSH's default.
// Its secrets are asked for under ctx (see sshConfigs).
func resolve(ctx context.Context, c *inventory.Cluster, h inventory.Host, known *ssh.KnownHosts, p *prompter, sc sshConfigSource) ssh.Config {
	s := c.Spec.SSH
	hs := inventory.HostSSH{}
	if h.SSH != nil {
		hs = *h.SSH
	}
	alias := h.Address
	cfg := ssh.Config{Name: h.Name, Address: alias, HostKeys: known}
	if hn := sc.Get(alias, "HostName"); hn != "" && !strings.Contains(hn, "%") {
		cfg.Address = hn
	}
	cfg.User = loginUser(c, h, sc)
	cfg.HashKnownHosts = hashKnownHosts(sc, alias)
	cfg.Port = firstInt(hs.Port, s.Port, atoi(sc.Get(alias, "Port")), 22)
	if k := first(hs.KeyPath, s.KeyPath); k != "" {
		cfg.KeyPaths = []string{expandHome(k)}
	} else {
		for _, k := range sc.GetAll(alias, "IdentityFile") {
			// ssh_config returns its own default (~/.ssh/identity) when the
			// file names none; the OpenSSH defaults below cover that case.
			if k != "" && k != "~/.ssh/identity" {
				cfg.KeyPaths = append(cfg.KeyPaths, expandHome(k))
			}
		}
		if len(cfg.KeyPaths) == 0 {
			for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
				cfg.KeyPaths = append(cfg.KeyPaths, expandHome("~/.ssh/"+k))
			}
		}
	}
	if s.UseAgent == nil || *s.UseAgent {
		cfg.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	sudo := s.Sudo != nil && *s.Sudo
	if hs.Sudo != nil {
		sudo = *hs.Sudo
	}
	cfg.Sudo = sudo
	// Every error of the prompter names what it asked for, here the key's
	// path, as ssh.Config.Passphrase wants.
	cfg.Passphrase = func(path string) (string, error) { return p.secret(ctx, envKeyPassphrase, "passphrase for "+path) }
	cfg.Password = p.lazy(ctx, envSSHPassword, "SSH password")
	if sudo {
		cfg.SudoPassword = p.lazy(ctx, envSudoPassword, "sudo password")
	}
	if b := s.Bastion; b != nil {
		cfg.Bastion = &ssh.Config{
			Name:           h.Name + " bastion " + b.Address,
			Address:        b.Address,
			Port:           b.Port,
			User:           first(b.User, cfg.User),
			KeyPaths:       cfg.KeyPaths,
			AgentSocket:    cfg.AgentSocket,
			Passphrase:     cfg.Passphrase,
			HostKeys:       known,
			HashKnownHosts: hashKnownHosts(sc, b.Address),
		}
		if b.KeyPath != "" {
			cfg.Bastion.KeyPaths = []string{expandHome(b.KeyPath)}
		}
	} else if pj := sc.Get(alias, "ProxyJump"); pj != "" && pj != "none" {
		cfg.Bastion = parseJump(strings.Split(pj, ",")[0], cfg, known)
		cfg.Bastion.HashKnownHosts = hashKnownHosts(sc, cfg.Bastion.Address)
	}
	return cfg
}

// loginUser is the user kubeha logs in to h as: the inventory's (h's own,
// then spec.ssh), else ~/.ssh/config's for h's address, else root.
func loginUser(c *inventory.Cluster, h inventory.Host, sc sshConfigSource) string {
	return first(c.SSHUser(h), sc.Get(h.Address, "User"), "root")
}

// hashKnownHosts reports whether ~/.ssh/config asks for host names in
// known_hosts to be hashed (HashKnownHosts yes) for alias, as OpenSSH does
// when it records a new key.
func hashKnownHosts(sc sshConfigSource, alias string) bool {
	return strings.EqualFold(sc.Get(alias, "HashKnownHosts"), "yes")
}

// parseJump reads an OpenSSH ProxyJump hop: [user@]host[:port].
func parseJump(hop string, via ssh.Config, known *ssh.KnownHosts) *ssh.Config {
	b := &ssh.Config{Name: via.Name + " bastion " + hop, User: via.User, Port: 22, KeyPaths: via.KeyPaths,
		AgentSocket: via.AgentSocket, Passphrase: via.Passphrase, HostKeys: known}
	if u, rest, ok := strings.Cut(hop, "@"); ok {
		b.User, hop = u, rest
	}
	if host, port, ok := strings.Cut(hop, ":"); ok {
		hop = host
		b.Port = firstInt(atoi(port), 22)
	}
	b.Address = hop
	return b
}

// prompter reads a secret from an environment variable or, on a terminal,
// asks once and remembers it. Every secret it hands out is registered for
// redaction first. It is safe for concurrent use: one question at a time is
// on the terminal, and a caller that waited while the same secret was
// asked for gets that answer without a second question.
type prompter struct {
	in      io.Reader
	out     io.Writer
	secrets *events.Secrets
	// view, once set, owns the terminal: questions go through it instead
	// of straight to in and out.
	view  asker
	mu    sync.Mutex
	cache map[string]string
}

// asker puts one question on the terminal and reads the answer without
// echo, giving up when ctx is done. viewTerminal is the one the live view
// lends.
type asker interface {
	ask(ctx context.Context, question string) (string, error)
}

// secret is the secret what, from env or asked for under ctx. A question
// that ctx ended is not remembered: each caller waiting for the same
// secret then gets the same error at once, without a question.
func (p *prompter) secret(ctx context.Context, env, what string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.cache[what]; ok {
		return v, nil
	}
	v := os.Getenv(env)
	if v == "" {
		if !isTerminal(p.in) {
			return "", fmt.Errorf("%s needed: set %s (no terminal to ask on)", what, env)
		}
		var err error
		if p.view != nil {
			// The view ends before the run only when the run is being
			// stopped (a signal, a broken terminal): a question then
			// would hold up the exit until someone pressed Enter.
			if v, err = p.view.ask(ctx, what); errors.Is(err, errViewEnded) {
				return "", fmt.Errorf("%s needed and the live view has ended: set %s", what, env)
			}
		} else {
			v, err = askTerminal(ctx, p.in, p.out, what)
		}
		if err != nil {
			return "", err
		}
	}
	p.secrets.Add(v)
	if p.cache == nil {
		p.cache = map[string]string{}
	}
	p.cache[what] = v
	return v, nil
}

// lazy returns a function that produces the secret when first needed, or
// nil when it can never be had (no variable, no terminal), so that the SSH
// and sudo code do not offer a method that cannot work.
func (p *prompter) lazy(ctx context.Context, env, what string) func() (string, error) {
	if os.Getenv(env) == "" && !isTerminal(p.in) {
		return nil
	}
	return func() (string, error) { return p.secret(ctx, env, what) }
}

// askTerminal writes the question to out and reads one line from in, a
// terminal, with echo off. The answer is not registered for redaction:
// that is the caller's job, before it is used; it is never written
// anywhere.
//
// When ctx is done the question ends at once (Ctrl-C at it cancels the
// command's context) with an error that wraps ctx.Err(), the terminal as it
// was found and the cursor on a new line; a ctx done before the question
// asks nothing.
func askTerminal(ctx context.Context, in io.Reader, out io.Writer, question string) (string, error) {
	fd, ok := terminalFd(in)
	if !ok {
		return "", fmt.Errorf("%s: no terminal to ask on", question)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%s not asked: %w", question, err)
	}
	fmt.Fprintf(out, "%s: ", question)
	b, err := readSecret(ctx, fd)
	// With echo off the Enter that ends the answer moves nothing, and an
	// interrupted question would have the shell's prompt after it.
	fmt.Fprintln(out)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return "", fmt.Errorf("%s prompt interrupted: %w", question, err)
		}
		return "", fmt.Errorf("read %s: %w", question, err)
	}
	return string(b), nil
}

// isTerminal reports whether r is a terminal that can be asked on.
func isTerminal(r io.Reader) bool {
	_, ok := terminalFd(r)
	return ok
}

// terminalFd is r's file descriptor when r is a terminal.
func terminalFd(r io.Reader) (int, bool) {
	f, ok := r.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstInt(vals ...int) int {
	for _, v := range vals {
		if v != 0 {
			return v
		}
	}
	return 0
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

package ssh

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Config is everything needed to reach one host. cmd/kubeha resolves it from
// the inventory and ~/.ssh/config (see Resolve).
type Config struct {
	// Name is the inventory host name, used in every message.
	Name string
	// Address and Port are where sshd listens.
	Address string
	Port    int
	User    string
	// KeyPaths are private key files to offer, in order.
	KeyPaths []string
	// Passphrase returns the passphrase of an encrypted key file. Its
	// error goes up as it is, so it is to name path and say what to do, as
	// the question it asks names the key: wrapped again, the message would
	// name the key twice.
	Passphrase func(path string) (string, error)
	// AgentSocket is SSH_AUTH_SOCK, empty for no agent.
	AgentSocket string
	// Password returns the login password, nil for none.
	Password func() (string, error)
	// HostKeys checks the server's key; every Config of a run shares one.
	HostKeys *KnownHosts
	// HashKnownHosts records a key accepted as new under a hashed name,
	// like OpenSSH with HashKnownHosts yes.
	HashKnownHosts bool
	// Bastion, when set, is the jump host the connection goes through.
	Bastion *Config
	// Sudo runs commands through sudo when User is not root.
	Sudo bool
	// SudoPassword returns the sudo password, nil for passwordless sudo.
	SudoPassword func() (string, error)
	// DialTimeout bounds TCP connect plus handshake; 0 means 20 s.
	DialTimeout time.Duration
	// KeepAlive is the interval of keepalive requests; 0 means 10 s. A
	// connection whose host does not answer one within two intervals is
	// closed, and commands running on it fail with ConnectionLostError.
	KeepAlive time.Duration
}

// dialTimeout bounds TCP connect plus handshake.
func (c *Config) dialTimeout() time.Duration {
	if c.DialTimeout == 0 {
		return 20 * time.Second
	}
	return c.DialTimeout
}

func (c *Config) addr() string {
	port := c.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(c.Address, strconv.Itoa(port))
}

// ConnectionError is a failure to reach or log in to a host.
type ConnectionError struct {
	Host    string
	Address string
	Err     error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("%s: connect to %s: %v", e.Host, e.Address, e.Err)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// ConnectionLostError is a command whose connection died before it ended.
// The command may or may not have run to completion on the host; the next
// call reconnects.
type ConnectionLostError struct {
	Host    string
	Command string
	Err     error
}

func (e *ConnectionLostError) Error() string {
	return fmt.Sprintf("%s: connection lost during %q: %v (the next command reconnects; guarded scripts are safe to rerun)", e.Host, e.Command, e.Err)
}

func (e *ConnectionLostError) Unwrap() error { return e.Err }

// Client is one host's connection. It is safe for concurrent use: each
// command gets its own session. Closed connections are re-dialled once, on
// the next command.
type Client struct {
	cfg Config

	mu      sync.Mutex
	conn    *xssh.Client
	bastion *xssh.Client
	closed  bool

	sftpMu     sync.Mutex
	sftpClient *sftp.Client
	sftpConn   *xssh.Client

	sudoOnce           sync.Once
	sudoErr            error
	sudoPasswordNeeded bool
}

// Dial connects to the host described by cfg.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c := &Client{cfg: cfg}
	if _, err := c.client(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Name is the inventory name of the host.
func (c *Client) Name() string { return c.cfg.Name }

// client returns a live connection, dialling when there is none.
func (c *Client) client(ctx context.Context) (*xssh.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, &ConnectionError{Host: c.cfg.Name, Address: c.cfg.addr(), Err: errors.New("client closed")}
	}
	if c.conn != nil {
		return c.conn, nil
	}
	conn, bastion, err := dial(ctx, &c.cfg)
	if err != nil {
		return nil, err
	}
	c.conn, c.bastion = conn, bastion
	go c.keepAlive(conn)
	return conn, nil
}

// drop forgets conn if it is still the current connection, so the next
// command dials afresh.
func (c *Client) drop(conn *xssh.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn {
		conn.Close()
		if c.bastion != nil {
			c.bastion.Close()
		}
		c.conn, c.bastion = nil, nil
	}
}

func (c *Client) keepAlive(conn *xssh.Client) {
	every := c.cfg.KeepAlive
	if every == 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	done := make(chan struct{})
	go func() { conn.Wait(); close(done) }()
	for {
		select {
		case <-done:
			c.drop(conn)
			return
		case <-t.C:
			// A host that lost power answers nothing, not even a TCP reset:
			// without a deadline the request (and every command on the
			// connection) would wait for TCP to give up, many minutes.
			replied := make(chan error, 1)
			go func() { _, _, err := conn.SendRequest("keepalive@openssh.com", true, nil); replied <- err }()
			select {
			case err := <-replied:
				if err != nil {
					c.drop(conn)
					return
				}
			case <-time.After(2 * every):
				c.drop(conn)
				return
			case <-done:
				c.drop(conn)
				return
			}
		}
	}
}

// Close ends the connection. Commands still running are cut off.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var err error
	if c.conn != nil {
		err = c.conn.Close()
	}
	if c.bastion != nil {
		c.bastion.Close()
	}
	c.conn, c.bastion = nil, nil
	return err
}

func dial(ctx context.Context, cfg *Config) (*xssh.Client, *xssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.dialTimeout())
	defer cancel()
	fail := func(err error) (*xssh.Client, *xssh.Client, error) {
		return nil, nil, &ConnectionError{Host: cfg.Name, Address: cfg.addr(), Err: err}
	}
	clientCfg, err := clientConfig(cfg)
	if err != nil {
		return fail(err)
	}
	raw, bastion, err := connect(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	// The handshake has no context of its own: bound it by closing the
	// socket when ctx ends first.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	sc, chans, reqs, err := xssh.NewClientConn(raw, cfg.addr(), clientCfg)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		raw.Close()
		if bastion != nil {
			bastion.Close()
		}
		if hk := hostKeyError(err); hk != nil {
			return nil, nil, hk
		}
		return fail(err)
	}
	return xssh.NewClient(sc, chans, reqs), bastion, nil
}

// connect opens the TCP connection to cfg's sshd, through its bastion (a
// logged-in SSH connection, returned for the caller to close after raw) when
// cfg has one.
func connect(ctx context.Context, cfg *Config) (raw net.Conn, bastion *xssh.Client, err error) {
	if cfg.Bastion == nil {
		var d net.Dialer
		raw, err = d.DialContext(ctx, "tcp", cfg.addr())
		return raw, nil, err
	}
	bcfg := *cfg.Bastion
	if bcfg.Name == "" {
		bcfg.Name = cfg.Name + " via bastion"
	}
	bastion, _, err = dial(ctx, &bcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("bastion %s: %w", bcfg.addr(), err)
	}
	raw, err = bastion.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		bastion.Close()
		return nil, nil, fmt.Errorf("through bastion %s: %w", bcfg.addr(), err)
	}
	return raw, bastion, nil
}

// hostKeyError digs a host key refusal out of a handshake error: it already
// names the host and says what to do, so it goes up unwrapped.
func hostKeyError(err error) error {
	var (
		uk *UnknownHostKeyError
		ck *ChangedHostKeyError
		ce *HostCertificateError
		re *RevokedHostKeyError
	)
	switch {
	case errors.As(err, &uk):
		return uk
	case errors.As(err, &ck):
		return ck
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &re):
		return re
	}
	return nil
}

func clientConfig(cfg *Config) (*xssh.ClientConfig, error) {
	var auths []xssh.AuthMethod
	var signers []xssh.Signer
	for _, p := range cfg.KeyPaths {
		s, err := loadKey(p, cfg.Passphrase)
		if err != nil {
			return nil, err
		}
		if s != nil {
			signers = append(signers, s)
		}
	}
	if len(signers) > 0 {
		auths = append(auths, xssh.PublicKeys(signers...))
	}
	if cfg.AgentSocket != "" {
		if conn, err := net.Dial("unix", cfg.AgentSocket); err == nil {
			// The agent connection lives as long as the process; it is
			// one socket for the whole run.
			auths = append(auths, xssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		}
	}
	if cfg.Password != nil {
		auths = append(auths, xssh.PasswordCallback(cfg.Password))
	}
	if len(auths) == 0 {
		return nil, errors.New("no way to log in: give spec.ssh.keyPath, start ssh-agent, or set KUBEHA_SSH_PASSWORD")
	}
	hk := cfg.HostKeys
	if hk == nil {
		return nil, errors.New("no known_hosts checker configured")
	}
	user := cfg.User
	if user == "" {
		user = "root"
	}
	return &xssh.ClientConfig{
		User:              user,
		Auth:              auths,
		HostKeyCallback:   hk.callback(cfg.Name, cfg.HashKnownHosts),
		HostKeyAlgorithms: hk.algorithms(cfg.addr()),
	}, nil
}

// UnlockKeys reads the key files dials with cfgs would offer, their
// bastions' included, each file once, asking the Passphrase of the first
// Config that names an encrypted one now rather than at the first dial.
// cmd/kubeha calls it before a full-screen view takes the terminal, with a
// Passphrase that remembers its answers, so that no dial has to ask later.
// A key that cannot be read, or whose passphrase is wrong, is an error; a
// missing key file is skipped, as a dial skips it.
func UnlockKeys(cfgs ...Config) error {
	seen := map[string]bool{}
	for _, cfg := range cfgs {
		for c := &cfg; c != nil; c = c.Bastion {
			for _, p := range c.KeyPaths {
				if seen[p] {
					continue
				}
				seen[p] = true
				if _, err := loadKey(p, c.Passphrase); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// loadKey reads a private key file. A missing default key is not an error
// (nil signer); an encrypted key asks Passphrase.
func loadKey(path string, passphrase func(string) (string, error)) (xssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	s, err := xssh.ParsePrivateKey(data)
	var missing *xssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, fmt.Errorf("key %s is encrypted: set KUBEHA_SSH_KEY_PASSPHRASE or run on a terminal to be asked", path)
		}
		pp, perr := passphrase(path)
		if perr != nil {
			return nil, perr // names the key (see Config.Passphrase)
		}
		s, err = xssh.ParsePrivateKeyWithPassphrase(data, []byte(pp))
		if errors.Is(err, x509.IncorrectPasswordError) {
			// x509's own words name neither the key nor the way out.
			return nil, fmt.Errorf("key %s: wrong passphrase: check KUBEHA_SSH_KEY_PASSPHRASE, or the passphrase typed, and that this is the right key", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return s, nil
}

// Run executes cmd on the host and waits for it. A non-zero exit is an
// *ExitError; a dead connection found before the command started is
// re-dialled once and the command sent again, while one that dies during the
// command is a *ConnectionLostError. When ctx ends, the remote process group
// is sent SIGTERM, then SIGKILL, so nothing is left running on the host.
func (c *Client) Run(ctx context.Context, cmd Command) (Result, error) {
	for _, s := range cmd.Secrets {
		if s != "" && strings.Contains(cmd.Script, s) {
			return Result{}, fmt.Errorf("%s: %s: %w", c.cfg.Name, cmd.Name, ErrSecretInCommandLine)
		}
	}
	wrapped, stdin, err := c.wrap(ctx, cmd)
	if err != nil {
		return Result{}, err
	}
	sess, conn, err := c.session(ctx)
	if err != nil {
		return Result{}, err
	}
	defer sess.Close()
	return c.runSession(ctx, conn, sess, cmd, wrapped, stdin)
}

// session opens a session, re-dialling once when the connection is dead.
func (c *Client) session(ctx context.Context) (*xssh.Session, *xssh.Client, error) {
	for attempt := 0; ; attempt++ {
		conn, err := c.client(ctx)
		if err != nil {
			return nil, nil, err
		}
		sess, err := conn.NewSession()
		if err == nil {
			return sess, conn, nil
		}
		c.drop(conn)
		if attempt == 1 || ctx.Err() != nil {
			return nil, nil, &ConnectionError{Host: c.cfg.Name, Address: c.cfg.addr(), Err: fmt.Errorf("open session: %w", err)}
		}
	}
}

// pgidMarker precedes the remote shell's process group ID on stderr. sshd
// makes every session's shell a session and process group leader, so that
// pid names the whole tree a command starts.
const pgidMarker = "kubeha-pgid:"

func (c *Client) runSession(ctx context.Context, conn *xssh.Client, sess *xssh.Session, cmd Command, wrapped string, stdin io.Reader) (Result, error) {
	secrets := append([]string(nil), cmd.Secrets...)
	shown := redactAll(shorten(cmd.nameOrScript()), secrets)
	var stdout, stderr bytes.Buffer
	outR, err := sess.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	errR, err := sess.StderrPipe()
	if err != nil {
		return Result{}, err
	}
	if stdin != nil {
		sess.Stdin = stdin
	}
	pgid := make(chan int, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pump(outR, &stdout, "stdout", cmd.OnLine, nil) }()
	go func() { defer wg.Done(); pump(errR, &stderr, "stderr", cmd.OnLine, pgid) }()

	if err := sess.Start(wrapped); err != nil {
		c.drop(conn)
		return Result{}, &ConnectionLostError{Host: c.cfg.Name, Command: shown, Err: err}
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- sess.Wait() }()

	var werr error
	select {
	case werr = <-waitErr:
	case <-ctx.Done():
		c.kill(conn, sess, pgid)
		select {
		case <-waitErr:
		case <-time.After(5 * time.Second):
		}
		sess.Close()
		wg.Wait()
		return Result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: -1}, fmt.Errorf("%s: %q: %w", c.cfg.Name, shown, ctx.Err())
	}
	wg.Wait()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *xssh.ExitError
	var missing *xssh.ExitMissingError
	switch {
	case werr == nil:
		return res, nil
	case errors.As(werr, &exit):
		res.ExitCode = exit.ExitStatus()
		return res, &ExitError{Host: c.cfg.Name, Command: shown, ExitCode: res.ExitCode, Stderr: redactAll(tail(res.Stderr, 20), secrets)}
	case errors.As(werr, &missing), errors.Is(werr, io.EOF):
		c.drop(conn)
		return res, &ConnectionLostError{Host: c.cfg.Name, Command: shown, Err: werr}
	default:
		c.drop(conn)
		return res, &ConnectionLostError{Host: c.cfg.Name, Command: shown, Err: werr}
	}
}

// kill ends the remote command's process group: TERM, a grace period, KILL.
// It runs over a fresh session because the command's own stdin may be busy;
// under sudo the kill runs as root, since the processes do.
func (c *Client) kill(conn *xssh.Client, sess *xssh.Session, pgid <-chan int) {
	_ = sess.Signal(xssh.SIGTERM)
	var id int
	select {
	case id = <-pgid:
	case <-time.After(2 * time.Second):
	}
	if id <= 1 {
		return
	}
	// pkill/pgrep -g, not the shell's kill: dash's builtin cannot signal a
	// process group.
	script := fmt.Sprintf("pkill -TERM -g %d; for i in 1 2 3 4 5 6 7 8 9 10; do pgrep -g %d >/dev/null || exit 0; sleep 0.2; done; pkill -KILL -g %d; true", id, id, id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k := Command{Script: script, Name: "stop cancelled command"}
	wrapped, stdin, err := c.wrap(ctx, k)
	if err != nil {
		return
	}
	ks, err := conn.NewSession()
	if err != nil {
		return
	}
	defer ks.Close()
	if stdin != nil {
		ks.Stdin = stdin
	}
	done := make(chan struct{})
	go func() { _ = ks.Run(wrapped); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// pump copies r into buf byte for byte, calling onLine with each line
// (without its newline), and picks the process group marker out of the
// first line of stderr.
func pump(r io.Reader, buf *bytes.Buffer, stream string, onLine func(string, string), pgid chan<- int) {
	br := bufio.NewReaderSize(r, 64*1024)
	first := pgid != nil
	for {
		chunk, err := br.ReadString('\n')
		if first && chunk != "" {
			first = false
			if v, ok := strings.CutPrefix(strings.TrimSuffix(chunk, "\n"), pgidMarker); ok {
				if id, perr := strconv.Atoi(v); perr == nil {
					pgid <- id
					chunk = ""
				}
			}
		}
		if chunk != "" {
			buf.WriteString(chunk)
			if onLine != nil {
				onLine(stream, strings.TrimSuffix(chunk, "\n"))
			}
		}
		if err != nil {
			return
		}
	}
}

func (cmd Command) nameOrScript() string {
	if cmd.Name != "" {
		return cmd.Name
	}
	return cmd.Script
}

func redactAll(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

// Package sshd starts real OpenSSH sshd processes for tests: on loopback or
// inside a network namespace. It is the "real sshd" tier of DESIGN.md: no
// in-process fake stands in for OpenSSH when kubeha's transport is proved.
//
// Every server gets its own host key, config and authorized_keys in a
// directory the caller owns; Stop kills the process and nothing else.
package sshd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	xssh "golang.org/x/crypto/ssh"
)

// Binary is OpenSSH's server.
const Binary = "/usr/sbin/sshd"

// Available reports whether sshd can be started here, and why not.
func Available() error {
	if _, err := os.Stat(Binary); err != nil {
		return fmt.Errorf("%s missing: apt-get install openssh-server", Binary)
	}
	if os.Geteuid() != 0 {
		return errors.New("sshd tests run as root (sshd needs its privilege separation)")
	}
	return nil
}

// Options shape one server.
type Options struct {
	// Dir holds the server's files; it must exist.
	Dir string
	// Address to listen on; empty means 127.0.0.1.
	Address string
	// Port; 0 picks a free one on Address.
	Port int
	// NetNS, when set, runs sshd inside that network namespace.
	NetNS string
	// Password enables password authentication.
	Password bool
	// AuthorizedKeys lists public keys allowed for every user.
	AuthorizedKeys []xssh.PublicKey
	// Extra lines appended to sshd_config.
	Extra []string
}

// Server is a running sshd.
type Server struct {
	Address string
	Port    int
	// HostKey is the server's public host key.
	HostKey xssh.PublicKey
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
	done    chan struct{}
	banner  string // in this server's version line, and no other's
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Address, strconv.Itoa(s.Port)) }

// errPortTaken: the port picked for a server answered with another
// server's banner.
var errPortTaken = errors.New("the port answered with another sshd's banner")

// Start runs sshd and waits until it accepts connections. A port it picks
// (Port 0) is free when picked but may be taken by another test's server
// before sshd binds it; that sshd then exits while the other answers on
// the port, so readiness is known by the server's own banner (a nonce in
// VersionAddendum), and a taken port is picked again.
func Start(ctx context.Context, o Options) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if o.Port != 0 || o.NetNS != "" {
		return start(ctx, o)
	}
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, o)
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			return s, err
		}
	}
}

func start(ctx context.Context, o Options) (*Server, error) {
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, err
	}
	if o.Address == "" {
		o.Address = "127.0.0.1"
	}
	if o.Port == 0 {
		if o.NetNS != "" {
			o.Port = 22
		} else {
			p, err := freePort(o.Address)
			if err != nil {
				return nil, err
			}
			o.Port = p
		}
	}
	hostPub, err := writeHostKey(filepath.Join(o.Dir, "ssh_host_ed25519_key"))
	if err != nil {
		return nil, err
	}
	var ak bytes.Buffer
	for _, k := range o.AuthorizedKeys {
		ak.Write(xssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "authorized_keys"), ak.Bytes(), 0o644); err != nil {
		return nil, err
	}
	pw := "no"
	if o.Password {
		pw = "yes"
	}
	nonce := make([]byte, 8)
	rand.Read(nonce)
	banner := fmt.Sprintf("kh-%x", nonce)
	conf := []string{
		"ListenAddress " + net.JoinHostPort(o.Address, strconv.Itoa(o.Port)),
		"VersionAddendum " + banner,
		"HostKey " + filepath.Join(o.Dir, "ssh_host_ed25519_key"),
		"AuthorizedKeysFile " + filepath.Join(o.Dir, "authorized_keys"),
		"PidFile none",
		"StrictModes no",
		"UsePAM no",
		"PermitRootLogin yes",
		"PasswordAuthentication " + pw,
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"MaxStartups 200",
		"MaxSessions 100",
		"LogLevel ERROR",
		"Subsystem sftp /usr/lib/openssh/sftp-server",
	}
	conf = append(conf, o.Extra...)
	cfgPath := filepath.Join(o.Dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	args := []string{Binary, "-D", "-e", "-f", cfgPath}
	if o.NetNS != "" {
		args = append([]string{"ip", "netns", "exec", o.NetNS}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	s := &Server{Address: o.Address, Port: o.Port, HostKey: hostPub, cmd: cmd, stderr: &stderr, done: make(chan struct{}), banner: banner}
	go func() { cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx, o.NetNS); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, netns string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("sshd exited: %s", s.stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if netns != "" {
			// The test process may have no route into the namespace: ask
			// from inside it.
			if exec.Command("ip", "netns", "exec", netns, "bash", "-c",
				fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", s.Address, s.Port)).Run() == nil {
				return nil
			}
		} else if c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond); err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasSuffix(strings.TrimRight(line, "\r\n"), " "+s.banner) {
				return nil
			}
			if line != "" {
				return fmt.Errorf("%s: %w (%q)", s.Addr(), errPortTaken, strings.TrimSpace(line))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("sshd on %s not ready after 10s: %s", s.Addr(), s.stderr.String())
}

// Stop kills sshd (its connections' children die with their sessions).
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
	}
	<-s.done
}

// Stderr returns what sshd logged.
func (s *Server) Stderr() string { return s.stderr.String() }

func freePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func writeHostKey(path string) (xssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := xssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return xssh.NewPublicKey(pub)
}

// ClientKey is a fresh ed25519 key pair for a test client.
type ClientKey struct {
	Path   string // private key file, OpenSSH format
	Public xssh.PublicKey
	Signer xssh.Signer
}

// NewClientKey writes a private key to path, encrypted when passphrase is
// not empty.
func NewClientKey(path, passphrase string) (*ClientKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = xssh.MarshalPrivateKey(priv, "kubeha-test")
	} else {
		block, err = xssh.MarshalPrivateKeyWithPassphrase(priv, "kubeha-test", []byte(passphrase))
	}
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	sp, err := xssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	signer, err := xssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	return &ClientKey{Path: path, Public: sp, Signer: signer}, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

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
then, if you say so, 'kubeha apply' on it with the live view.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.runWizard(cmd.Context(), &f)
		},
	}
	f.bind(cmd, false)
	return cmd
}

// runWizard runs the installer; when the operator asks, it applies the
// saved inventory under the live view.
func (c *cmdContext) runWizard(ctx context.Context, f *runFlags) error {
	// Asked for by name, the installer needs only a terminal that can draw
	// it: CI=true (in the environment of a terminal multiplexer, say) does
	// not stop it, as it stops apply's live view.
	if !c.interactive() {
		return usageError{errors.New("the installer needs a terminal (stdin and stdout, TERM not dumb); without one, write the inventory with 'kubeha inventory init' and run 'kubeha apply'")}
	}
	p := tea.NewProgram(wizard.New(sshChecker{}, *c.invPath), tea.WithContext(ctx), tea.WithInput(c.app.stdin), tea.WithOutput(c.app.stdout))
	final, err := p.Run()
	if err != nil {
		return err
	}
	m, _ := final.(wizard.Model)
	if !m.Saved() {
		return fmt.Errorf("left the installer without saving: %w", phases.ErrInterrupted)
	}
	fmt.Fprintf(c.app.stdout, "inventory saved to %s\n", *c.invPath)
	if !m.Run() {
		fmt.Fprintf(c.app.stdout, "apply it with: %s\n", resumeCommand(*c.invPath, *c.stateDir))
		return nil
	}
	return c.runPhases(ctx, f, phases.Selection{})
}

// sshChecker is the installer's Checker over kubeha's own SSH client.
type sshChecker struct{}

var errGotKey = errors.New("host key received")

// Scan offers no credentials: it only reads the host key. It asks for key
// types in the order apply uses for a host known_hosts lacks, so the key
// shown, and accepted, is the one apply and OpenSSH will be presented.
func (sshChecker) Scan(ctx context.Context, address string, port int) (string, string, error) {
	addr := net.JoinHostPort(address, strconv.Itoa(port))
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var key xssh.PublicKey
	_, _, _, err = xssh.NewClientConn(conn, addr, &xssh.ClientConfig{
		User:              "kubeha-scan",
		HostKeyAlgorithms: ssh.DefaultHostKeyAlgorithms(),
		HostKeyCallback: func(_ string, _ net.Addr, k xssh.PublicKey) error {
			key = k
			return errGotKey
		},
	})
	if key == nil {
		return "", "", fmt.Errorf("no host key from %s: %v", addr, err)
	}
	return xssh.FingerprintSHA256(key), knownhosts.Line([]string{knownhosts.Normalize(addr)}, key), nil
}

// Accept appends the line to known_hosts (created 0600 with its directory).
func (sshChecker) Accept(knownHosts, line string) error {
	p := expandHome(knownHosts)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Login checks the key strictly against known_hosts, as apply will.
func (sshChecker) Login(ctx context.Context, address string, port int, user, keyPath, knownHosts string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cl, err := ssh.Dial(ctx, ssh.Config{Name: address, Address: address, Port: port, User: user,
		KeyPaths: []string{expandHome(keyPath)}, HostKeys: ssh.NewKnownHosts(expandHome(knownHosts), ssh.HostKeyStrict)})
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.Run(ctx, ssh.Command{Name: "login check", Script: "true"})
	return err
}

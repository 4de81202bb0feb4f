// Package ssh is kubeha's only way onto a host: one SSH connection per host,
// a session per command, host keys checked against known_hosts, sudo as a
// probed decorator, and files that land atomically. It is built on
// golang.org/x/crypto/ssh and github.com/pkg/sftp and is proved against real
// OpenSSH sshd processes in its tests.
package ssh

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Command is one remote command. Script runs under `sh -c` (as root through
// sudo when the host needs it), so a phase can send one guarded script per
// host instead of many small commands.
type Command struct {
	// Script is the shell text to run.
	Script string
	// Stdin, when set, is copied to the command's standard input.
	Stdin io.Reader
	// Secrets are values that must never be shown; they are masked in
	// errors and events. They may be in Stdin or in the command's output,
	// never in Script (Run refuses: ErrSecretInCommandLine).
	Secrets []string
	// OnLine, when set, receives each line of output as it arrives
	// (stream is "stdout" or "stderr"). It is called from one goroutine per
	// stream.
	OnLine func(stream, line string)
	// Name is a short description for errors and events ("write haproxy.cfg");
	// the script itself is shown only redacted and cut short.
	Name string
}

// ErrSecretInCommandLine refuses a Command whose Script holds one of its
// Secrets. The script is the remote shell's argv, which every user of the
// host can read in its process list (and sudo logs): secrets travel in
// files written with mode 0600 or on stdin.
var ErrSecretInCommandLine = errors.New("a secret is in the command's text, which the host's process list shows: pass it in a 0600 file or on stdin")

// Result is what a command produced.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Host     string
	Command  string // redacted, cut short
	ExitCode int
	Stderr   string // redacted tail
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: %q exited %d", e.Host, e.Command, e.ExitCode)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// tail returns the last n lines of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// shorten cuts a script to its first line and at most 120 characters, for
// error messages.
func shorten(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

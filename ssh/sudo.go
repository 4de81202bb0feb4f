package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrSudoPassword means sudo wants a password and none was given.
var ErrSudoPassword = errors.New("sudo needs a password: set KUBEHA_SUDO_PASSWORD, run on a terminal to be asked, or allow passwordless sudo for this user")

// needsSudo reports whether commands must be lifted to root.
func (c *Client) needsSudo() bool {
	return c.cfg.Sudo && c.cfg.User != "" && c.cfg.User != "root"
}

// probeSudo finds out once per client whether sudo works without a
// password (`sudo -n true`). It runs before the first lifted command.
func (c *Client) probeSudo(ctx context.Context) (passwordless bool, err error) {
	c.sudoOnce.Do(func() {
		sess, _, err := c.session(ctx)
		if err != nil {
			c.sudoErr = err
			return
		}
		defer sess.Close()
		if err := sess.Run("sudo -n true 2>/dev/null"); err != nil {
			if c.cfg.SudoPassword == nil {
				c.sudoErr = fmt.Errorf("%s: %w", c.cfg.Name, ErrSudoPassword)
			}
			c.sudoPasswordNeeded = true
		}
	})
	return !c.sudoPasswordNeeded, c.sudoErr
}

// wrap turns cmd into the remote command line and its standard input. The
// login shell first reports its pid (the process group of everything the
// command starts, for cancellation), then execs the script under sh, through
// sudo when needed. A sudo password travels as the first line of stdin with
// `sudo -S -k`, never in argv; -k makes sudo read it even when a cached
// credential exists, so it can never leak into the command's own stdin.
func (c *Client) wrap(ctx context.Context, cmd Command) (string, io.Reader, error) {
	prefix := "echo " + pgidMarker + "$$ >&2; exec "
	script := "sh -c " + Quote(cmd.Script)
	if !c.needsSudo() {
		return prefix + script, cmd.Stdin, nil
	}
	passwordless, err := c.probeSudo(ctx)
	if err != nil {
		return "", nil, err
	}
	if passwordless {
		return prefix + "sudo -n -- " + script, cmd.Stdin, nil
	}
	pw, err := c.cfg.SudoPassword()
	if err != nil {
		return "", nil, fmt.Errorf("%s: sudo password: %w", c.cfg.Name, err)
	}
	var stdin io.Reader = strings.NewReader(pw + "\n")
	if cmd.Stdin != nil {
		stdin = io.MultiReader(stdin, cmd.Stdin)
	}
	return prefix + "sudo -k -S -p '' -- " + script, stdin, nil
}

// Quote quotes s as one word for a POSIX shell.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Package tmux drives a program in a tmux session for the e2e tests, as an
// operator at a terminal would: keys in, the screen read back.
package tmux

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Term is one tmux session, 220x50, killed when the test ends.
type Term struct {
	t       testing.TB
	session string
}

// Start runs the shell command in a new session named name, with TERM
// xterm-256color, NO_COLOR=1 and CI unset (an operator's terminal: CI
// would turn apply's live view off).
func Start(t testing.TB, name, command string) *Term {
	t.Helper()
	tm := &Term{t: t, session: name}
	tm.Tmux("new-session", "-d", "-s", name, "-x", "220", "-y", "50", "env", "-u", "CI", "TERM=xterm-256color", "NO_COLOR=1", "sh", "-c", command)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", name).Run() })
	return tm
}

// Tmux runs tmux with args, failing the test when it fails.
func (tm *Term) Tmux(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", args...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v %s", args, err, out)
	}
	return string(out)
}

// Keys sends tmux key names (Enter, Tab, C-u).
func (tm *Term) Keys(k ...string) { tm.Tmux(append([]string{"send-keys", "-t", tm.session}, k...)...) }

// Text types s literally.
func (tm *Term) Text(s string) { tm.Tmux("send-keys", "-t", tm.session, "-l", s) }

// Screen is the pane's text, trailing spaces and blank lines trimmed.
func (tm *Term) Screen() string {
	lines := strings.Split(tm.Tmux("capture-pane", "-p", "-t", tm.session), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
}

// WaitFor polls the screen until every want appears, for 20 s at most.
func (tm *Term) WaitFor(want ...string) string {
	tm.t.Helper()
	return tm.WaitForWithin(20*time.Second, want...)
}

// WaitForWithin is WaitFor with its own timeout. It fails the test
// showing the last screen.
func (tm *Term) WaitForWithin(timeout time.Duration, want ...string) string {
	tm.t.Helper()
	return tm.WaitUntil(timeout, fmt.Sprintf("%q", want), func(s string) bool {
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	})
}

// WaitUntil polls the screen until ok says it shows what, for timeout at
// most, and fails the test showing the last screen.
func (tm *Term) WaitUntil(timeout time.Duration, what string, ok func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := tm.Screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("screen never showed %s within %v:\n%s", what, timeout, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Row is the screen's first line whose first field is name, or "".
func Row(screen, name string) string {
	for _, l := range strings.Split(screen, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return l
		}
	}
	return ""
}

// Session is the session's name, for a second one beside it.
func (tm *Term) Session() string { return tm.session }

package main

import (
	"context"
	"errors"
	"os"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"golang.org/x/term"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/tui"
	"github.com/kubeha/kubeha/tui/runview"
)

// live reports whether apply gets the interactive run view: --output tty
// (or auto on a terminal, not CI, not TERM=dumb) with a keyboard to read.
func (c *cmdContext) live(f *runFlags) bool {
	mode, err := tui.Resolve(f.output, c.app.terminal)
	if err != nil || mode != tui.ModeTTY {
		return false
	}
	in, ok := c.app.stdin.(*os.File)
	return ok && term.IsTerminal(int(in.Fd()))
}

// interactive reports whether stdin and stdout are a terminal that can
// draw a full-screen program.
func (c *cmdContext) interactive() bool {
	in, ok := c.app.stdin.(*os.File)
	getenv := c.app.terminal.Getenv
	return ok && term.IsTerminal(int(in.Fd())) && c.app.terminal.IsTerminal && (getenv == nil || getenv("TERM") != "dumb")
}

// runLive runs the phases under the run view. The view's q asks, then
// cancels the run; kubeha returns only after the runner has stopped, so the
// journal is consistent and the exit code says interrupted (3).
func (c *cmdContext) runLive(ctx context.Context, f *runFlags, sel phases.Selection) error {
	evs := make(chan events.Event, 256)
	viewGone := make(chan struct{})
	s, err := c.openWith(ctx, f, runview.NewSink(evs, viewGone))
	if err != nil {
		return err
	}
	defer s.close()
	selected, err := phases.Select(s.runner.Phases, sel)
	if err != nil {
		return usageError{err}
	}
	var rows []runview.Phase
	for _, p := range selected {
		rows = append(rows, runview.Phase{ID: p.ID(), Title: p.Title()})
	}
	cl := s.runner.Cluster
	summary := runview.Summary{
		Kubeconfig:  s.runner.ControlPlane.AdminKubeconfigPath(),
		Endpoint:    kubeadm.Endpoint(cl),
		Resume:      resumeCommand(*c.invPath, *c.stateDir),
		FailedHosts: phases.FailedHosts,
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan runview.Result, 1)
	done := make(chan error, 1)
	go func() {
		err := s.runner.Apply(runCtx, sel)
		// The view prints the error on its final screen, beside the
		// redacted events.
		results <- runview.Result{Err: c.app.secrets.RedactError(err)}
		done <- err
	}()
	p := tea.NewProgram(runview.New(rows, evs, results, cancel, summary),
		tea.WithContext(ctx), tea.WithInput(c.app.stdin), tea.WithOutput(c.app.stdout))
	final, perr := p.Run()
	close(viewGone) // the engine never blocks on a view that is gone
	if m, ok := final.(runview.Model); ok && m.Finished() {
		return m.Err()
	}
	// The view ended first (a signal, a terminal error): stop the run and
	// wait for it, so the journal is saved before kubeha exits.
	cancel()
	err = <-done
	if err == nil && perr != nil && !errors.Is(perr, tea.ErrProgramKilled) {
		return perr
	}
	return err
}

// resumeCommand is the command that runs again from where a run stopped:
// the journal skips what is done.
func resumeCommand(inv, stateDir string) string {
	cmd := []string{"kubeha", "apply", "-i", inv}
	if stateDir != ".kubeha" {
		cmd = append(cmd, "--state-dir", stateDir)
	}
	return strings.Join(cmd, " ")
}

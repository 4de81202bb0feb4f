package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	vt := &viewTerminal{gone: viewGone}
	s, err := c.openWith(ctx, f, runview.NewSink(evs, viewGone), vt)
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
	p := tea.NewProgram(runview.New(rows, evs, results, cancel, summary),
		tea.WithContext(ctx), tea.WithInput(c.app.stdin), tea.WithOutput(c.app.stdout))
	// Before the run starts: a host that needs a password asks through
	// the program from then on.
	vt.program = p
	go func() {
		err := s.runner.Apply(runCtx, sel)
		// The view prints the error on its final screen, beside the
		// redacted events.
		results <- runview.Result{Err: c.app.secrets.RedactError(err)}
		done <- err
	}()
	final, perr := p.Run()
	close(viewGone) // the engine never blocks or asks on a view that is gone
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

// errViewEnded is viewTerminal's answer when the view ended before it
// could lend the terminal: nothing was asked, and nothing owns the
// terminal any more.
var errViewEnded = errors.New("the live view has ended")

// viewTerminal lends the terminal the live view draws on to one question
// at a time. The question goes to the program as a tea.Exec command, so
// the program's own event loop runs it: it stops its input reader and
// renderer and puts the terminal back as it found it (ReleaseTerminal),
// the question is asked on the program's input and output, then it takes
// the terminal again and redraws (RestoreTerminal). The loop does nothing
// else meanwhile, so the view cannot end, nor draw, nor read a key, while
// the question is on the screen.
//
// ask may be called from any goroutine once program is set; a question
// asked before program.Run starts waits for it. The prompter asks one
// question at a time.
type viewTerminal struct {
	program *tea.Program
	gone    <-chan struct{} // closed once program.Run has returned
}

// ask asks the question with the terminal lent by the view and returns
// the answer once the view has the terminal back. When the view ends
// without having asked it returns errViewEnded. The question gives up when
// ctx is done, as askTerminal does, so that the view gets the terminal
// back.
func (v *viewTerminal) ask(ctx context.Context, question string) (string, error) {
	q := &lentQuestion{ctx: ctx, question: question, done: make(chan struct{})}
	// Send returns once the event loop has taken the command, or at once
	// when the program has ended.
	v.program.Send(tea.Exec(q, q.end)())
	select {
	case <-q.done:
		return q.answer, q.err
	case <-v.gone:
	}
	// The program runs a command it took before Run returns, so it is
	// either done by now or was never taken.
	select {
	case <-q.done:
		return q.answer, q.err
	default:
		return "", errViewEnded
	}
}

// lentQuestion is a tea.ExecCommand that asks one question on the
// terminal the program lends it. The program calls Set* and Run, then end,
// all on its event loop.
type lentQuestion struct {
	ctx      context.Context
	question string
	in       io.Reader
	out      io.Writer
	asked    bool
	answer   string
	err      error
	done     chan struct{} // closed by end
}

func (q *lentQuestion) SetStdin(r io.Reader)  { q.in = r }
func (q *lentQuestion) SetStdout(w io.Writer) { q.out = w }
func (q *lentQuestion) SetStderr(io.Writer)   {}

func (q *lentQuestion) Run() error {
	q.asked = true
	q.answer, q.err = askTerminal(q.ctx, q.in, q.out, q.question)
	return q.err
}

// end is the program's callback once it has the terminal back, or has
// failed to release it (err, and Run was not called). The answer stands
// even if the view could not take the terminal back.
func (q *lentQuestion) end(err error) tea.Msg {
	if !q.asked {
		q.err = fmt.Errorf("%s: the live view cannot lend the terminal: %w", q.question, err)
	}
	close(q.done)
	return nil
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

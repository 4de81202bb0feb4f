// Command kubeha turns SSH-reachable Linux machines into a highly available
// Kubernetes cluster by driving the real kubeadm on them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
)

// Exit codes, documented in README.md. Mapped from errors in exitCode only.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 3
	exitUnhealthy   = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore default handling so a second
		// Ctrl-C ends kubeha at once if the clean stop takes too long.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, defaultApp()))
}

// run executes kubeha with args and returns the exit code. It is main
// without the process: tests call it directly.
//
// run makes the one *events.Secrets of the invocation and registers the
// passwords given in the environment at once, before anything is printed.
// Events, the journal and stderr are all redacted with that set, so every
// secret a phase or the prompter adds later is masked in all three. stdout
// carries events and journal text, both redacted where they are made, and
// one unredacted secret on purpose: the admin kubeconfig `kubeha
// kubeconfig` prints because the user asked for it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, a *app) int {
	a.secrets = &events.Secrets{}
	a.secrets.Add(os.Getenv(envSSHPassword), os.Getenv(envSudoPassword), os.Getenv(envKeyPassphrase))
	stderr = events.RedactingWriter(stderr, a.secrets)
	a.stdin, a.stdout, a.stderr = stdin, stdout, stderr
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		printError(stderr, err)
	}
	return exitCode(err)
}

// usageError is a mistake in how kubeha was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// silentError has already been reported (for example a validation report
// printed in full); only its exit code matters.
type silentError struct{ err error }

func (e silentError) Error() string { return e.err.Error() }
func (e silentError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ps inventory.Problems
	var ue usageError
	var unknown *phases.UnknownPhaseError
	var unhealthy *unhealthyError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, phases.ErrInterrupted) || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ps), errors.As(err, &ue), errors.As(err, &unknown):
		return exitUsage
	case errors.As(err, &unhealthy):
		return exitUnhealthy
	default:
		return exitFailed
	}
}

// hinted is an error that knows what is true after it and what to do
// next (leftInstallerError, installerFileError, readOnlyInterrupt);
// printError prints that below it.
type hinted interface {
	error
	next() string
}

// readOnlyInterrupt is an interrupt (Ctrl-C, SIGTERM) of a command that
// changes nothing on the hosts and writes no journal: status, plan, certs
// check. printError's default words for an interrupt are about a run and
// its journal, which such a command has none of, so it says what is true
// instead. It unwraps to the interrupt, so the exit code stays 3.
type readOnlyInterrupt struct {
	cmd string // the command as typed after kubeha: "certs check"
	err error
}

// Error leaves out err's own text: it is every host's question cut short,
// one "context canceled" per host, which says nothing the interrupt does
// not.
func (e readOnlyInterrupt) Error() string { return e.cmd + " interrupted" }
func (e readOnlyInterrupt) Unwrap() error { return e.err }

func (e readOnlyInterrupt) next() string {
	return fmt.Sprintf("Nothing was changed: kubeha %s only reads. Run it again for a whole answer.", e.cmd)
}

// readOnly is err from the read-only command cmd, a readOnlyInterrupt when
// err is an interrupt. Every other error is returned as it is.
func readOnly(cmd string, err error) error {
	if errors.Is(err, phases.ErrInterrupted) || errors.Is(err, context.Canceled) {
		return readOnlyInterrupt{cmd: cmd, err: err}
	}
	return err
}

// printError prints err once, with what to do next where kubeha knows it.
// w is run's redacting stderr, so the text is redacted like every event.
func printError(w io.Writer, err error) {
	var se silentError
	if errors.As(err, &se) {
		return
	}
	var h hinted
	if errors.As(err, &h) {
		fmt.Fprintf(w, "kubeha: %v\n%s\n", err, h.next())
		return
	}
	if errors.Is(err, phases.ErrInterrupted) || errors.Is(err, context.Canceled) {
		fmt.Fprintf(w, "kubeha: %v\nThe journal is consistent; run the same command again to continue.\n", err)
		return
	}
	fmt.Fprintf(w, "kubeha: %v\n", err)
}

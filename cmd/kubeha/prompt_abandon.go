package main

import (
	"context"

	"golang.org/x/term"
)

// readPasswordAbandoning reads one line from fd, a terminal, with echo off,
// as term.ReadPassword does, but returns ctx.Err() as soon as ctx is done,
// with the terminal put back as it was found. It is readSecret where the
// terminal cannot be waited on with poll(2) (prompt_other.go); Linux has
// its own (prompt_linux.go), and runs this one only in tests.
//
// The read itself cannot be ended: a cancelled question leaves it behind in
// its goroutine, reading until Enter (or until the process exits, which
// Ctrl-C at a question leads to). The line it then reads is cleared and
// dropped, so a later question on the same terminal loses the first line
// typed at it. Ctrl-C in the instant between the question appearing and
// term.ReadPassword turning echo off would find nothing to put back and
// leave echo off until that Enter.
func readPasswordAbandoning(ctx context.Context, fd int) ([]byte, error) {
	saved, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	// Restore errors are ignored: a terminal that refuses it has nothing
	// better to offer, as in readSecret on Linux.
	return readOrAbandon(ctx,
		func() ([]byte, error) { return term.ReadPassword(fd) },
		func() { _ = term.Restore(fd, saved) })
}

// readOrAbandon calls read in a goroutine of its own and returns what it
// returns, or, as soon as ctx is done, calls restore and returns ctx.Err()
// without waiting for read. A ctx done before calls neither.
//
// An abandoned read goes on until it returns by itself; what it read then
// is cleared and given to nobody. restore runs only on abandoning, while
// the read may still be running: it is for undoing what read set up and
// will only undo when it returns.
func readOrAbandon(ctx context.Context, read func() ([]byte, error), restore func()) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		b   []byte
		err error
	}
	res := make(chan result) // unbuffered: an answer is handed over or cleared, never left in a buffer
	abandoned := make(chan struct{})
	go func() {
		b, err := read()
		select {
		case res <- result{b, err}:
		case <-abandoned:
			clear(b)
		}
	}()
	select {
	case r := <-res:
		return r.b, r.err
	case <-ctx.Done():
		close(abandoned)
		restore()
		return nil, ctx.Err()
	}
}

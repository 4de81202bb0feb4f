//go:build !linux

package main

import "context"

// readSecret reads one line from fd, a terminal, with echo off, and
// returns ctx.Err() as soon as ctx is done, the terminal put back. Outside
// Linux the terminal cannot be waited on with poll(2) (macOS does not offer
// it for terminals), so the read, term.ReadPassword's, runs in a goroutine
// that a cancelled question leaves behind until Enter: see
// readPasswordAbandoning.
func readSecret(ctx context.Context, fd int) ([]byte, error) {
	return readPasswordAbandoning(ctx, fd)
}

package main

import (
	"context"
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// readSecret reads one line from fd, a terminal, with echo off, and
// returns ctx.Err() as soon as ctx is done, the line unread.
//
// It sets the line discipline as term.ReadPassword does (echo off, lines
// and signals on, CR read as NL), and puts back what it found however it
// returns. Unlike term.ReadPassword it never blocks in read(2), which a
// cancelled context cannot end: Ctrl-C at the question sends SIGINT and
// cancels the command's context, but the read would go on until Enter.
// It waits in poll(2) for a whole line (in canonical mode the terminal is
// readable only once one is complete) or for the wake-up pipe that a
// cancelled ctx closes, and reads only a line that is there. So nothing is
// left reading the terminal after it returns, to swallow the next line
// typed at whoever reads it next.
//
// The buffer the answer is read through is cleared, and so is a partial
// answer it does not return.
func readSecret(ctx context.Context, fd int) ([]byte, error) {
	saved, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	noEcho := *saved
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	noEcho.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return nil, err
	}
	// Put back on every return, the answer read, the wait cancelled or a
	// read failed. A terminal that refuses it has nothing better to offer.
	defer unix.IoctlSetTermios(fd, unix.TCSETS, saved)

	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	defer unix.Close(wake[0])
	// The write end is closed exactly once: by the AfterFunc if it ran,
	// which is what wakes the poll, else here.
	stop := context.AfterFunc(ctx, func() { unix.Close(wake[1]) })
	defer func() {
		if stop() {
			unix.Close(wake[1])
		}
	}()

	var line []byte
	buf := make([]byte, 256)
	defer clear(buf)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake[0]), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) { // a signal; SIGINT's cancel comes through the pipe
				continue
			}
			clear(line)
			return nil, err
		}
		if fds[1].Revents != 0 {
			clear(line)
			return nil, ctx.Err()
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case err != nil:
			clear(line)
			return nil, err
		case n == 0: // end of input: Ctrl-D, or the terminal hung up
			if len(line) > 0 {
				return line, nil
			}
			return nil, io.EOF
		}
		for _, c := range buf[:n] {
			switch c {
			case '\n':
				return line, nil
			case '\r': // ignored, as term.ReadPassword does (ICRNL makes Enter '\n')
			case '\b': // as term.ReadPassword does, for a terminal whose erase key is not ^H
				if len(line) > 0 {
					line = line[:len(line)-1]
				}
			default:
				line = append(line, c)
			}
		}
	}
}

package main

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadOrAbandon: the answer or the read's error comes back as read
// gives it; a cancel while read waits returns context.Canceled at once,
// puts the terminal back (restore) and leaves read behind; a cancel
// before asks nothing.
func TestReadOrAbandon(t *testing.T) {
	cases := []struct {
		name        string
		cancelFirst bool   // cancelled before the call
		interrupt   bool   // cancelled while read waits
		answer      string // what read returns
		readErr     error
		want        string
		wantErr     string
		wantReads   int32
		wantRestore int32
	}{
		{name: "answered", answer: "typed-Secret-14", want: "typed-Secret-14", wantReads: 1},
		{name: "the read fails", readErr: io.EOF, wantErr: "EOF", wantReads: 1},
		{name: "interrupted while reading", interrupt: true, answer: "late-Secret-15",
			wantErr: "context canceled", wantReads: 1, wantRestore: 1},
		{name: "cancelled before: nothing read", cancelFirst: true, wantErr: "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelFirst {
				cancel()
			}
			var reads, restores atomic.Int32
			reading := make(chan struct{})
			release := make(chan struct{})
			answer := []byte(tc.answer)
			read := func() ([]byte, error) {
				reads.Add(1)
				close(reading)
				if tc.interrupt {
					<-release // an Enter long after the Ctrl-C
				}
				if tc.readErr != nil {
					return nil, tc.readErr
				}
				return answer, nil
			}
			type result struct {
				b   []byte
				err error
			}
			res := make(chan result, 1)
			go func() {
				b, err := readOrAbandon(ctx, read, func() { restores.Add(1) })
				res <- result{b, err}
			}()
			var cancelled time.Time
			if tc.interrupt {
				select {
				case <-reading:
				case <-time.After(10 * time.Second):
					t.Fatal("waited 10s for the read to start")
				}
				cancelled = time.Now()
				cancel()
			}
			var r result
			select {
			case r = <-res:
			case <-time.After(10 * time.Second):
				t.Fatal("waited 10s for readOrAbandon")
			}
			if tc.interrupt {
				if d := time.Since(cancelled); d > time.Second {
					t.Errorf("returned %v after the cancel, want at once", d)
				}
			}
			if tc.wantErr != "" {
				if r.err == nil || r.err.Error() != tc.wantErr || r.b != nil {
					t.Fatalf("got %q, %v; want the error %q", r.b, r.err, tc.wantErr)
				}
				if tc.cancelFirst || tc.interrupt {
					if !errors.Is(r.err, context.Canceled) {
						t.Errorf("%v is not context.Canceled", r.err)
					}
				}
			} else if r.err != nil || string(r.b) != tc.want {
				t.Fatalf("got %q, %v; want %q", r.b, r.err, tc.want)
			}
			if n := reads.Load(); n != tc.wantReads {
				t.Errorf("%d reads, want %d", n, tc.wantReads)
			}
			if n := restores.Load(); n != tc.wantRestore {
				t.Errorf("%d restores, want %d", n, tc.wantRestore)
			}
			if tc.interrupt {
				// The abandoned read ends at last, and its answer goes to
				// nobody. (That it is cleared then cannot be watched
				// without racing with the goroutine that clears it.)
				close(release)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
)

// heldHosts are hosts that do not answer until the command's context ends,
// as a host does when Ctrl-C comes while kubeha waits for it. asked is
// closed when the first question reaches a host.
type heldHosts struct {
	phases.Hosts
	once  sync.Once
	asked chan struct{}
}

func (h *heldHosts) Run(ctx context.Context, _ string, _ ssh.Command) (ssh.Result, error) {
	h.once.Do(func() { close(h.asked) })
	<-ctx.Done()
	return ssh.Result{}, ctx.Err()
}

// askingPhase probes by asking every host, as kubeha's own probes do, so
// that plan waits on the hosts.
type askingPhase struct{}

func (askingPhase) ID() string    { return "ask" }
func (askingPhase) Title() string { return "Ask the hosts" }
func (askingPhase) Probe(ctx context.Context, env *phases.Env) (phases.Work, error) {
	for _, h := range env.Cluster.HostNames() {
		if _, err := env.Hosts.Run(ctx, h, ssh.Command{Name: "probe", Script: "true"}); err != nil {
			return phases.Work{}, err
		}
	}
	return phases.Work{Targets: env.Cluster.HostNames()}, nil
}
func (askingPhase) Run(context.Context, *phases.Env, phases.Work) error { return nil }

// TestReadOnlyInterrupt: Ctrl-C while a command that only reads waits on
// the hosts exits 3 and says that nothing was changed, not that a journal
// is consistent and the command continues: these commands keep none.
func TestReadOnlyInterrupt(t *testing.T) {
	tests := []struct {
		name string
		cmd  string // as the messages name it
		args []string
	}{
		{"status", "status", []string{"status", "--timeout", "1m"}},
		{"status json", "status", []string{"status", "--output", "json", "--timeout", "1m"}},
		{"plan", "plan", []string{"plan", "--output", "plain"}},
		{"certs check", "certs check", []string{"certs", "check", "--output", "plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			hosts := &heldHosts{asked: make(chan struct{})}
			a := h.app()
			a.registry = func() []phases.Phase { return []phases.Phase{askingPhase{}} }
			a.connect = func(context.Context, *inventory.Cluster, connectOptions) (phases.Hosts, func() error, error) {
				return hosts, nil, nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errb bytes.Buffer
			done := make(chan int)
			go func() {
				args := append(tt.args, "-i", h.inv, "--state-dir", filepath.Join(h.dir, "state"))
				done <- run(ctx, args, strings.NewReader(""), &out, &errb, a)
			}()
			<-hosts.asked
			cancel() // "Ctrl-C"
			code := <-done
			errs := errb.String()
			cmd := tt.cmd
			if code != exitInterrupted {
				t.Errorf("exit %d, want %d", code, exitInterrupted)
			}
			want := "kubeha: " + cmd + " interrupted\nNothing was changed: kubeha " + cmd + " only reads. Run it again for a whole answer.\n"
			if errs != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", errs, want)
			}
		})
	}
}

// TestReadOnly: only an interrupt is reworded; every other error of a
// read-only command, and nil, pass as they are.
func TestReadOnly(t *testing.T) {
	failed := errors.New("k1: connect: refused")
	tests := []struct {
		name      string
		err       error
		reworded  bool
		wantError string
	}{
		{"nil", nil, false, ""},
		{"failure", failed, false, failed.Error()},
		{"cancelled", context.Canceled, true, "status interrupted"},
		{"cancelled among failures", errors.Join(failed, context.Canceled), true, "status interrupted"},
		{"interrupted", fmt.Errorf("probing phase a: %w", phases.ErrInterrupted), true, "status interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readOnly("status", tt.err)
			var ri readOnlyInterrupt
			if errors.As(err, &ri) != tt.reworded {
				t.Fatalf("readOnly(%v) = %#v: reworded %v, want %v", tt.err, err, !tt.reworded, tt.reworded)
			}
			if !tt.reworded && err != tt.err {
				t.Fatalf("readOnly(%v) = %v, want it unchanged", tt.err, err)
			}
			if tt.err != nil && err.Error() != tt.wantError {
				t.Errorf("error %q, want %q", err.Error(), tt.wantError)
			}
			if tt.reworded && exitCode(err) != exitInterrupted {
				t.Errorf("exit code %d, want %d", exitCode(err), exitInterrupted)
			}
		})
	}
}

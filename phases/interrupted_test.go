package phases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/state"
)

// errPastReset is what interruptedFirstMaster answers to any command after
// the reset: the first step of the fresh kubeadm init, as far as a test
// without a host can follow it.
var errPastReset = errors.New("past the reset")

// interruptedFirstMaster is a cluster whose first master, first, had its
// kubeadm init cut short: its facts show kubeadm's files without kubeha's
// mark, the other masters' show fresh hosts. The reset script runs for
// real in sh, with every command that would reach this machine's cluster
// or files stubbed (sh); a failure is reported as the ssh package reports
// a command that exited non-zero.
type interruptedFirstMaster struct {
	first string
	sh    stubbedShell

	mu     sync.Mutex
	reset  *stubbedRun // the reset script's run, once it ran
	pastOn []string    // commands asked for after the reset
}

func (f *interruptedFirstMaster) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case cmd.Name == "gather facts" && host == f.first:
		return ssh.Result{Stdout: "init=systemd\nkubeadmfiles=1\nnodedone=0\ncpdone=0\n"}, nil
	case cmd.Name == "gather facts":
		return ssh.Result{Stdout: "init=systemd\nkubeadmfiles=0\nnodedone=0\n"}, nil
	case cmd.Name == "stop a leftover kubeadm" && f.reset == nil:
		return ssh.Result{}, nil
	case cmd.Name == "kubeadm reset" && f.reset == nil:
		r, err := f.sh.run(cmd.Script)
		if err != nil {
			return ssh.Result{}, err
		}
		f.reset = &r
		res := ssh.Result{Stdout: r.stdout, Stderr: r.stderr, ExitCode: r.code}
		if r.code != 0 {
			return res, &ssh.ExitError{Host: host, Command: cmd.Name, ExitCode: r.code, Stderr: strings.TrimSpace(r.stderr)}
		}
		return res, nil
	}
	f.pastOn = append(f.pastOn, host+": "+cmd.Name)
	return ssh.Result{}, fmt.Errorf("%s: %s: %w", host, cmd.Name, errPastReset)
}
func (*interruptedFirstMaster) Upload(context.Context, string, ssh.File) error {
	return errPastReset
}
func (*interruptedFirstMaster) Download(context.Context, string, string) ([]byte, error) {
	return nil, errPastReset
}

// TestInterruptedInitRefusesToResetACluster runs the kubeadm-init phase on
// a first master whose kubeadm init was cut short. kubeha resets such a
// host and runs init again, unless the apiserver there knows other nodes:
// then the host runs a cluster kubeha did not finish making, and a reset
// would destroy it. The refusal must stop the phase before kubeadm reset,
// as an error that names the host, the phase and how to let kubeha adopt
// the cluster; the apiserver knowing only this host, or not answering,
// must not refuse.
func TestInterruptedInitRefusesToResetACluster(t *testing.T) {
	c, _, err := inventory.Load("../examples/keepalived-haproxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first := c.Masters()[0].Name
	const down = `echo 'The connection to the server k8s-apiserver-vip:16443 was refused' >&2; exit 1`
	nodes := func(names ...string) string {
		out := "printf '%s\\n'"
		for _, n := range names {
			out += " '" + n + "   Ready   control-plane   5m   v1.33.1'"
		}
		return out
	}
	tests := []struct {
		name    string
		kubectl string // the stubbed `kubectl get nodes`
		want    string // the phase's error when it refuses; empty when it resets
	}{
		{"the apiserver knows the other masters", nodes("k1", "k2", "k3"),
			"phase kubeadm-init failed on 1 host(s):\nk1: \"kubeadm reset\" exited 1: this host runs a cluster of 3 nodes without kubeha's mark; kubeha will not reset it. If kubeha should take it over, run on this host: mkdir -p /etc/kubeha && touch /etc/kubeha/node.done /etc/kubeha/control-plane.done"},
		{"the apiserver knows one other node", nodes("k1", "k4"),
			"phase kubeadm-init failed on 1 host(s):\nk1: \"kubeadm reset\" exited 1: this host runs a cluster of 2 nodes without kubeha's mark; kubeha will not reset it. If kubeha should take it over, run on this host: mkdir -p /etc/kubeha && touch /etc/kubeha/node.done /etc/kubeha/control-plane.done"},
		{"the apiserver knows only this host", nodes("k1"), ""},
		{"no apiserver answers", down, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// kubectl as the kubectl frame calls it; mktemp, cp, mkdir and
			// rm stubbed too, so the reset touches nothing of this machine.
			sh := newStubbedShell(t, `"kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout 20s get nodes --no-headers") `+tt.kubectl+` ;;
"mktemp -d") echo "$STATE/keep" ;;
"kubeadm reset -f"|"cp "*|"mkdir "*|"rm "*) ;;`, "kubectl", "kubeadm", "mktemp", "cp", "mkdir", "rm")
			hosts := &interruptedFirstMaster{first: first, sh: sh}
			r := &Runner{Phases: []Phase{InitControlPlane{}}, Cluster: c, Events: events.Discard, Secrets: &events.Secrets{},
				Hosts: hosts, Facts: &FactStore{}, ControlPlane: controlplane.New(c, hosts, &events.Secrets{}, t.TempDir()),
				Concurrency: 4, Journal: &state.Journal{Phases: map[string]*state.PhaseRecord{}}, Store: &memStore{}}
			err := r.Apply(context.Background(), Selection{})
			if hosts.reset == nil {
				t.Fatalf("the reset script never ran; the phase ended with %v", err)
			}
			resets := slices.Contains(hosts.reset.calls, "kubeadm reset -f")

			if tt.want == "" {
				if !errors.Is(err, errPastReset) || !resets {
					t.Fatalf("want kubeadm reset, then init; kubeadm reset ran: %v, the phase ended with %v\nreset stderr: %s", resets, err, hosts.reset.stderr)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("the phase ended with\n%v\nwant\n%s", err, tt.want)
			}
			var pe *PhaseError
			if !errors.As(err, &pe) || pe.Phase != (InitControlPlane{}).ID() {
				t.Errorf("not a PhaseError of %s: %#v", (InitControlPlane{}).ID(), err)
			}
			var ee *ssh.ExitError
			if !errors.As(err, &ee) || ee.Host != first || ee.ExitCode != 1 {
				t.Errorf("not the reset's exit 1 on %s: %#v", first, err)
			}
			if got := FailedHosts(err); !slices.Equal(got, []string{first}) {
				t.Errorf("FailedHosts = %v, want [%s]", got, first)
			}
			if resets || len(hosts.pastOn) > 0 {
				t.Errorf("the refusal did not stop the phase: kubeadm reset ran: %v; asked for after the reset: %v", resets, hosts.pastOn)
			}
			if rec := r.Journal.Phases[(InitControlPlane{}).ID()]; rec == nil || rec.Status != state.StatusFailed {
				t.Errorf("journal record %+v, want failed", rec)
			}
		})
	}
}

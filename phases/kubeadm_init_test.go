package phases

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
)

// downHost answers the facts script as a fresh host, except that down does
// not answer at all, as the ssh package says it (the host's name first).
type downHost struct{ down string }

func (d downHost) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	if host == d.down {
		return ssh.Result{}, errors.New(host + ": dial tcp: connection refused")
	}
	return ssh.Result{Stdout: "init=systemd\n"}, nil
}
func (downHost) Upload(context.Context, string, ssh.File) error { return nil }
func (downHost) Download(context.Context, string, string) ([]byte, error) {
	return nil, errors.New("not used")
}

// TestHostErrorsNameTheHostOnce: a host that fails inside a phase's work
// is named once, as itself, whichever host the phase is about (issue 15:
// "m1: m2: …" and FailedHosts naming m1).
func TestHostErrorsNameTheHostOnce(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{Hosts: []inventory.Host{
		{Name: "m1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster},
		{Name: "m2", InternalAddress: "10.0.0.2", Role: inventory.RoleMaster},
		{Name: "w1", InternalAddress: "10.0.0.3", Role: inventory.RoleWorker},
	}}}
	c.Spec.Network.KubeProxyMode = inventory.ProxyModeIPVS
	c.Spec.Network.KubeProxyFallbackMode = inventory.ProxyModeIPTables
	log := events.Emitter{Sink: events.Discard}
	for _, tc := range []struct {
		name string
		run  func(env *Env) error
	}{
		{"kubeadm-init finds the cluster", func(env *Env) error {
			return (InitControlPlane{}).Run(context.Background(), env, Work{Targets: []string{"m1"}, Pending: []string{"m1"}})
		}},
		{"the effective proxy mode", func(env *Env) error {
			_, err := EffectiveProxyMode(context.Background(), env)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts := downHost{down: "m2"}
			env := &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Log: log, Concurrency: 4, results: &hostResults{},
				ControlPlane: controlplane.New(c, hosts, &events.Secrets{}, t.TempDir()).For(log)}
			err := tc.run(env)
			if err == nil {
				t.Fatal("no error with m2 down")
			}
			if got := FailedHosts(err); !slices.Equal(got, []string{"m2"}) {
				t.Errorf("FailedHosts = %v, want [m2]", got)
			}
			msg := (&PhaseError{Phase: "x", Err: err}).Error()
			if strings.Count(msg, "m2:") != 1 || strings.Contains(msg, "m1:") {
				t.Errorf("the error names a host more than once or the wrong one:\n%s", msg)
			}
		})
	}
}

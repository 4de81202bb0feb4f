package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/state"
	"github.com/kubeha/kubeha/tui"
)

// Planted secrets, one of each kind kubeha holds. The passwords are short
// on purpose: they are masked as whole words (see events.Secrets.Add).
const (
	plantSSHPassword  = "pw4x"
	plantSudoPassword = "su7q"
	plantPassphrase   = "kp9z"
	plantVRRPPassword = "Vr9-xQ2k"
	plantStatsPass    = "st4tsPassw0rdXYZ"
	plantKeyBody1     = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
	plantKeyBody2     = "QyNTUxOQAAACDy1Y3pZmh0WFRXoD4V2b2lVoX0wQJ2yA8Sg6pm5K4m3gAAAJgK"
)

// leak is a fake phase that registers secrets the way the real phases do
// (a generated token and certificate key, the load balancer's passwords)
// and then fails on every host with an error carrying one kind of secret.
type leak struct {
	token, certKey string
}

func (*leak) ID() string    { return "leak" }
func (*leak) Title() string { return "Leak secrets" }

func (*leak) Probe(_ context.Context, env *phases.Env) (phases.Work, error) {
	return phases.Work{Targets: env.Cluster.HostNames()}.AllPending("missing"), nil
}

func (l *leak) Run(ctx context.Context, env *phases.Env, w phases.Work) error {
	env.Secrets.Add(l.token, l.certKey, plantVRRPPassword, plantStatsPass)
	return phases.ForEachHost(ctx, env, w.Pending, 0, func(_ context.Context, h string) error {
		env.Log.ForHost(h).Line("stdout", "kubeadm join with token "+l.token)
		return errors.New(l.failure(h))
	})
}

// failure is the raw error text of host h; redactedFailure is what every
// output must show instead.
func (l *leak) failure(h string) string {
	return map[string]string{
		"k1": "kubeadm join k8s-apiserver-vip:6443 --token " + l.token + " --discovery-token-ca-cert-hash sha256:1234 exited 1",
		"k2": "upload-certs: certificate key " + l.certKey + " is not valid",
		"k3": "sudo as ops: password " + plantSudoPassword + " rejected (3 tries)",
		"k4": "ssh ops@192.168.8.188: login with password " + plantSSHPassword + " refused",
		"k5": "keepalived: VRRP password " + plantVRRPPassword + " rejected by peer k4; haproxy stats auth kubeha:" + plantStatsPass,
		"k6": "key /root/.ssh/id_ed25519 with passphrase " + plantPassphrase + ": dumped\n-----BEGIN OPENSSH PRIVATE KEY-----\n" +
			plantKeyBody1 + "\n" + plantKeyBody2 + "\n-----END OPENSSH PRIVATE KEY-----\nexit status 255",
	}[h]
}

func redactedFailure(h string) string {
	return map[string]string{
		"k1": "kubeadm join k8s-apiserver-vip:6443 --token *** --discovery-token-ca-cert-hash sha256:1234 exited 1",
		"k2": "upload-certs: certificate key *** is not valid",
		"k3": "sudo as ops: password *** rejected (3 tries)",
		"k4": "ssh ops@192.168.8.188: login with password *** refused",
		"k5": "keepalived: VRRP password *** rejected by peer k4; haproxy stats auth kubeha:***",
		"k6": "key /root/.ssh/id_ed25519 with passphrase ***: dumped\n***\nexit status 255",
	}[h]
}

var hostNames = []string{"k1", "k2", "k3", "k4", "k5", "k6"}

// TestNoSecretInAnyOutput plants every kind of secret in failures and
// checks stdout, stderr, the journal and every file under the state
// directory: no planted value anywhere, and the messages around the masks
// intact, compared as whole lines.
func TestNoSecretInAnyOutput(t *testing.T) {
	t.Setenv(envSSHPassword, plantSSHPassword)
	t.Setenv(envSudoPassword, plantSudoPassword)
	t.Setenv(envKeyPassphrase, plantPassphrase)
	l := &leak{token: controlplane.NewToken(), certKey: controlplane.NewCertificateKey()}
	planted := []string{l.token, l.certKey, plantSSHPassword, plantSudoPassword, plantPassphrase,
		plantVRRPPassword, plantStatsPass, plantKeyBody1, plantKeyBody2}

	var joined []string
	for _, h := range hostNames {
		joined = append(joined, h+": "+redactedFailure(h))
	}
	wantPhaseError := strings.Join(joined, "\n")
	wantStderr := "kubeha: phase leak failed on 6 host(s):\n" + wantPhaseError + "\n"

	for _, mode := range []string{"plain", "json"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			inv := filepath.Join(dir, "kubeha.yaml")
			if err := os.WriteFile(inv, inventory.Example, 0o644); err != nil {
				t.Fatal(err)
			}
			stateDir := filepath.Join(dir, ".kubeha")
			a := func() *app {
				return &app{
					terminal: tui.Terminal{},
					registry: func() []phases.Phase { return []phases.Phase{l} },
					connect: func(context.Context, *inventory.Cluster, connectOptions) (phases.Hosts, func() error, error) {
						return nil, nil, nil
					},
				}
			}
			kubeha := func(args ...string) (int, string, string) {
				var out, errb bytes.Buffer
				args = append(args, "-i", inv, "--state-dir", stateDir)
				code := run(context.Background(), args, strings.NewReader(""), &out, &errb, a())
				return code, out.String(), errb.String()
			}
			noSecret := func(where, text string) {
				t.Helper()
				for _, p := range planted {
					if strings.Contains(text, p) {
						t.Errorf("%s holds the secret %q:\n%s", where, p, text)
					}
				}
			}

			code, out, errs := kubeha("apply", "--output", mode)
			if code != exitFailed {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, errs)
			}
			noSecret("stdout", out)
			noSecret("stderr", errs)
			if errs != wantStderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errs, wantStderr)
			}
			if mode == "json" {
				checkJSONEvents(t, out, wantPhaseError)
			} else {
				checkPlainLines(t, out)
			}

			// The journal, as a file and as kubeha status shows it.
			j, err := state.Read(filepath.Join(stateDir, "prod", "state.json"), "prod")
			if err != nil {
				t.Fatal(err)
			}
			rec := j.Phases["leak"]
			if rec == nil || rec.Status != state.StatusFailed {
				t.Fatalf("journal record: %+v", rec)
			}
			if rec.Error != wantPhaseError {
				t.Errorf("journal phase error:\n%s\nwant:\n%s", rec.Error, wantPhaseError)
			}
			for _, h := range hostNames {
				if got := rec.Hosts[h]; got == nil || got.Error != redactedFailure(h) {
					t.Errorf("journal %s: %+v, want error %q", h, got, redactedFailure(h))
				}
			}
			// --offline: the journal alone, which records the failed phase.
			code, out, errs = kubeha("status", "--offline")
			if code != exitUnhealthy {
				t.Fatalf("status: exit %d, want %d: %s", code, exitUnhealthy, errs)
			}
			noSecret("status", out+errs)
			if !hasLine(out, "    k4: failed "+redactedFailure("k4")) {
				t.Errorf("status lacks k4's redacted error:\n%s", out)
			}

			// Every file kubeha keeps.
			err = filepath.WalkDir(stateDir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				noSecret(p, string(b))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			// A usage error quoting a password the environment gave.
			code, _, errs = kubeha("apply", "--from", plantSSHPassword)
			if code != exitUsage {
				t.Fatalf("--from: exit %d: %s", code, errs)
			}
			if want := `kubeha: --from: unknown phase "***"; phases are: leak` + "\n"; errs != want {
				t.Errorf("usage error: %q, want %q", errs, want)
			}
		})
	}
}

func checkJSONEvents(t *testing.T, out, wantPhaseError string) {
	t.Helper()
	failed := map[string]string{}
	var phaseFailed, runFailed, lines int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e events.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		switch e.Kind {
		case events.HostFailed:
			failed[e.Host] = e.Error
		case events.PhaseFailed:
			phaseFailed++
			if e.Error != wantPhaseError {
				t.Errorf("phase-failed error:\n%s\nwant:\n%s", e.Error, wantPhaseError)
			}
		case events.RunFailed:
			runFailed++
			if want := "phase leak failed on 6 host(s):\n" + wantPhaseError; e.Error != want {
				t.Errorf("run-failed error:\n%s\nwant:\n%s", e.Error, want)
			}
		case events.Output:
			lines++
			if want := "kubeadm join with token ***"; e.Message != want {
				t.Errorf("output %q, want %q", e.Message, want)
			}
		}
	}
	if phaseFailed != 1 || runFailed != 1 || lines != len(hostNames) {
		t.Errorf("%d phase-failed, %d run-failed, %d output events", phaseFailed, runFailed, lines)
	}
	for _, h := range hostNames {
		if failed[h] != redactedFailure(h) {
			t.Errorf("host-failed %s: %q, want %q", h, failed[h], redactedFailure(h))
		}
	}
}

var duration = regexp.MustCompile(` in [0-9.]+[µnm]?s`)

func checkPlainLines(t *testing.T, out string) {
	t.Helper()
	out = duration.ReplaceAllString(out, "")
	for _, h := range hostNames {
		first, _, multi := strings.Cut(redactedFailure(h), "\n")
		if multi {
			first += " …"
		}
		for _, want := range []string{"[leak] " + h + ": FAILED: " + first, "[leak] " + h + " | kubeadm join with token ***"} {
			if !hasLine(out, want) {
				t.Errorf("plain output lacks the line %q:\n%s", want, out)
			}
		}
	}
	if !hasLine(out, "!!! [leak] failed: k1: "+redactedFailure("k1")+" …") {
		t.Errorf("plain output lacks the phase failure line:\n%s", out)
	}
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

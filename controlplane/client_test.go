package controlplane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// recordingHosts answers the control-host probe from state and records
// every other command. It tests the client's decisions; the commands
// themselves are proved on real machines by e2e/cluster.
type recordingHosts struct {
	mu         sync.Mutex
	state      map[string]string // probe answer per host; missing: "ready"
	down       map[string]bool   // hosts that do not answer
	cmds       []string
	names      []string // host: name, of every command and upload
	ca         []byte
	secretGone bool // the kubeadm-certs Secret does not exist
	tokenGone  bool // the bootstrap token's Secret does not exist
	// written is the standard input of every command: what travelled in
	// files rather than on command lines.
	written []string
	// stdout answers the commands it names; hostStdout, by "host: name",
	// one host's, before stdout.
	stdout     map[string]string
	hostStdout map[string]string
	// failing are the commands, by name, that exit 1 (recorded first).
	failing map[string]bool
}

func (r *recordingHosts) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down[host] {
		return ssh.Result{}, errors.New(host + ": connection refused")
	}
	fail := ssh.Result{ExitCode: 1}
	switch {
	case cmd.Name == "is it a control-plane node":
		s, ok := r.state[host]
		if !ok {
			s = "ready"
		}
		return ssh.Result{Stdout: s + "\n"}, nil
	case cmd.Name == "check the Secret kubeadm-certs":
		if r.secretGone {
			return fail, &ssh.ExitError{Host: host, ExitCode: 1}
		}
		return ssh.Result{}, nil
	case strings.HasPrefix(cmd.Name, "check the Secret bootstrap-token-"):
		if r.tokenGone {
			return fail, &ssh.ExitError{Host: host, ExitCode: 1}
		}
		return ssh.Result{}, nil
	}
	r.names = append(r.names, host+": "+cmd.Name)
	if r.failing[cmd.Name] {
		return fail, &ssh.ExitError{Host: host, ExitCode: 1}
	}
	if cmd.Stdin != nil {
		b, _ := io.ReadAll(cmd.Stdin)
		r.written = append(r.written, string(b))
	}
	r.cmds = append(r.cmds, host+": "+cmd.Script)
	if out, ok := r.hostStdout[host+": "+cmd.Name]; ok {
		return ssh.Result{Stdout: out}, nil
	}
	return ssh.Result{Stdout: r.stdout[cmd.Name]}, nil
}

// checkRan compares, for each of hosts, the names of the commands run on
// it, in order, with want's.
func (r *recordingHosts) checkRan(t *testing.T, want map[string][]string, hosts ...string) {
	t.Helper()
	got := map[string][]string{}
	for _, n := range r.names {
		host, name, _ := strings.Cut(n, ": ")
		got[host] = append(got[host], name)
	}
	for _, h := range hosts {
		if strings.Join(got[h], "\n") != strings.Join(want[h], "\n") {
			t.Errorf("%s ran:\n%s\nwant:\n%s", h, strings.Join(got[h], "\n"), strings.Join(want[h], "\n"))
		}
	}
}

func (r *recordingHosts) Download(context.Context, string, string) ([]byte, error) {
	return r.ca, nil
}
func (r *recordingHosts) Upload(_ context.Context, host string, f ssh.File) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, host+": upload "+f.Path)
	r.names = append(r.names, host+": upload "+f.Path)
	return nil
}

func testCA(t *testing.T) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func masters(n int) *inventory.Cluster {
	c := &inventory.Cluster{}
	for i := 1; i <= n; i++ {
		c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: "m" + string(rune('0'+i)), InternalAddress: "10.0.0." + string(rune('0'+i)), Role: inventory.RoleMaster})
	}
	return c
}

func newClient(c *inventory.Cluster, hosts Hosts, secrets *events.Secrets) *Client {
	return New(c, hosts, secrets, "").For(events.Emitter{Sink: events.Discard})
}

// TestControlPicksOnce: the first ready master in inventory order, else
// the first finished one; the masters are asked once per run.
func TestControlPicksOnce(t *testing.T) {
	cases := []struct {
		name  string
		state map[string]string
		down  map[string]bool
		want  string
		err   bool
	}{
		{"all ready", nil, nil, "m1", false},
		{"first not a node yet", map[string]string{"m1": ""}, nil, "m2", false},
		{"first down", nil, map[string]bool{"m1": true}, "m2", false},
		{"ready wins over first finished", map[string]string{"m1": "joined"}, nil, "m2", false},
		{"only finished", map[string]string{"m1": "", "m2": "joined", "m3": "joined"}, nil, "m2", false},
		{"no control plane", map[string]string{"m1": "", "m2": "", "m3": ""}, nil, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hosts := &recordingHosts{state: tc.state, down: tc.down}
			cp := newClient(masters(3), hosts, &events.Secrets{})
			m, err := cp.Control(context.Background())
			if (err != nil) != tc.err || m.Name != tc.want {
				t.Fatalf("Control = %q, %v; want %q (error %t)", m.Name, err, tc.want, tc.err)
			}
			if tc.err {
				if !errors.Is(err, ErrNoControlPlane) {
					t.Errorf("error %v is not ErrNoControlPlane", err)
				}
				return
			}
			hosts.state = map[string]string{tc.want: ""}
			if again, _ := cp.For(events.Emitter{Sink: events.Discard}).Control(context.Background()); again.Name != tc.want {
				t.Errorf("a second Control in the run asked again: %q", again.Name)
			}
		})
	}
}

func TestJoinMaterialLifetimes(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hosts := &recordingHosts{ca: testCA(t)}
	secrets := &events.Secrets{}
	cp := newClient(masters(1), hosts, secrets)
	cp.join.now = func() time.Time { return now }
	ctx := context.Background()

	cp.RecordInit(kubeadm.Secrets{Token: "abcdef.0123456789abcdef", CertificateKey: strings.Repeat("a", 64)})
	tok, _ := cp.token(ctx)
	key, _ := cp.certificateKey(ctx)
	if tok != "abcdef.0123456789abcdef" || key != strings.Repeat("a", 64) || len(hosts.cmds) != 0 {
		t.Fatalf("fresh init material should be reused without making credentials: %v", hosts.cmds)
	}
	// Young, but the Secret was deleted: upload again under a new key.
	hosts.secretGone = true
	key, _ = cp.certificateKey(ctx)
	if key == strings.Repeat("a", 64) || len(hosts.cmds) != 1 || !strings.Contains(hosts.cmds[0], "'upload-certs'") {
		t.Fatalf("a deleted kubeadm-certs Secret must be re-uploaded: %q %v", key, hosts.cmds)
	}
	hosts.secretGone = false
	hosts.cmds = nil

	createToken := "'kubeadm' 'token' 'create' '--config' '" + CredentialsPath + "'"
	uploadCerts := "'kubeadm' 'init' 'phase' 'upload-certs' '--upload-certs' '--config' '" + CredentialsPath + "'"
	// Young, but the token was deleted (or cleaned up): a new one.
	hosts.tokenGone = true
	tok1, _ := cp.token(ctx)
	if tok1 == tok || len(hosts.cmds) != 1 || !strings.Contains(hosts.cmds[0], createToken) {
		t.Fatalf("a deleted bootstrap token must be replaced: %q %v", tok1, hosts.cmds)
	}
	hosts.tokenGone = false
	hosts.cmds = nil
	tok = tok1

	// 1h44m later: still within the window.
	now = now.Add(time.Hour + 44*time.Minute)
	if k, _ := cp.certificateKey(ctx); k != key {
		t.Fatal("re-uploaded before 1h45m")
	}
	// Token has 16 minutes left: under the 20-minute margin, a new one.
	tok2, err := cp.token(ctx)
	if err != nil || tok2 == tok || !regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`).MatchString(tok2) {
		t.Fatalf("new token %q %v", tok2, err)
	}
	// 1h46m after init: the certificates are re-uploaded under a new key.
	now = now.Add(2 * time.Minute)
	key2, err := cp.certificateKey(ctx)
	if err != nil || key2 == key || len(key2) != 64 {
		t.Fatalf("new key %q %v", key2, err)
	}
	if len(hosts.cmds) != 2 || !strings.Contains(hosts.cmds[0], createToken) || !strings.Contains(hosts.cmds[1], uploadCerts) {
		t.Fatalf("commands %v", hosts.cmds)
	}
	// The credentials travelled on stdin into the config file, never in a
	// command.
	for _, cmd := range hosts.cmds {
		for _, secret := range []string{tok1, tok2, key, key2} {
			if strings.Contains(cmd, secret) {
				t.Errorf("a credential is on a command line: %s", cmd)
			}
		}
	}
	var tokens, keys []string
	for _, w := range hosts.written {
		dec := yaml.NewDecoder(strings.NewReader(w))
		for {
			var doc struct {
				Kind            string `yaml:"kind"`
				CertificateKey  string `yaml:"certificateKey"`
				BootstrapTokens []struct {
					Token string `yaml:"token"`
				} `yaml:"bootstrapTokens"`
			}
			if err := dec.Decode(&doc); err != nil {
				break
			}
			if doc.Kind != "InitConfiguration" {
				continue
			}
			for _, bt := range doc.BootstrapTokens {
				tokens = append(tokens, bt.Token)
			}
			if doc.CertificateKey != "" {
				keys = append(keys, doc.CertificateKey)
			}
		}
	}
	if want := []string{tok1, tok2}; !slices.Equal(tokens, want) {
		t.Errorf("tokens written in kubeadm configs %v, want %v", tokens, want)
	}
	if want := []string{key, key2}; !slices.Equal(keys, want) {
		t.Errorf("certificate keys written in kubeadm configs %v, want %v", keys, want)
	}
	// Both were registered for redaction before use.
	if got := secrets.Redact(tok2 + " " + key2); got != "*** ***" {
		t.Fatalf("not registered: %q", got)
	}
	h, err := cp.caCertHash(ctx)
	if err != nil || !strings.HasPrefix(h, "sha256:") || len(h) != 71 {
		t.Fatalf("CA hash %q %v", h, err)
	}
}

// TestRevokeDeletesThisRunsCredentials: at the end of a run the tokens'
// Secrets (by name and description, never the secret half) and the
// uploaded certificates are deleted, once.
func TestRevokeDeletesThisRunsCredentials(t *testing.T) {
	hosts := &recordingHosts{ca: testCA(t)}
	cp := newClient(masters(1), hosts, &events.Secrets{})
	cp.Revoke(context.Background())
	if len(hosts.cmds) != 0 {
		t.Fatalf("nothing made, nothing to delete: %v", hosts.cmds)
	}
	cp.RecordInit(kubeadm.Secrets{Token: "abcdef.0123456789abcdef", CertificateKey: strings.Repeat("a", 64)})
	cp.Revoke(context.Background())
	if len(hosts.cmds) != 1 {
		t.Fatalf("want one command, got %v", hosts.cmds)
	}
	cmd := hosts.cmds[0]
	for _, want := range []string{
		"  '" + base64.StdEncoding.EncodeToString([]byte(kubeadm.TokenDescription)) + "' | '" + base64.StdEncoding.EncodeToString([]byte(UploadCertsTokenDescription)) + "') k -n kube-system delete secret --ignore-not-found \"$name\" >/dev/null ;;\n",
		"\nk -n kube-system delete secret --ignore-not-found kubeadm-certs >/dev/null\n"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("no line %q in %s", want, cmd)
		}
	}
	if strings.Contains(cmd, "0123456789abcdef") || strings.Contains(cmd, strings.Repeat("a", 64)) {
		t.Errorf("a secret on the command line: %s", cmd)
	}
	cp.Revoke(context.Background())
	if len(hosts.cmds) != 1 {
		t.Fatalf("revoked twice: %v", hosts.cmds)
	}
}

// The own route's kubeconfig is admin.conf with every server line aimed at
// the master's own apiserver, byte for byte what kubeha's former sed
// (s#^\([[:space:]]*server:\).*#\1 https://ADDR:6443#) wrote, now that
// the address never goes into a program.
func TestOwnRouteRewritesOnlyTheServer(t *testing.T) {
	conf := `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2c9PQ==
    server: https://api.example.internal:8443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2c9PQ==
    client-key-data: TFMwdExTMUNSVWRKVGlCRlF5QlFVa2xXUVZSRklFdEZXUzB0TFMwdENnPT0=
  # server: a comment, also rewritten as sed did
	server: tab-indented, also rewritten
serverless: untouched
`
	f := filepath.Join(t.TempDir(), "admin.conf")
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := newClient(masters(1), &recordingHosts{}, &events.Secrets{})
	for _, addr := range []string{"10.0.0.1", "fd00::1"} {
		t.Run(addr, func(t *testing.T) {
			body := scripts.Render("controlplane/secret-exists", struct{ Name string }{"x"})
			script := cp.frame(inventory.Host{InternalAddress: addr}, Own, "5s", body).String()
			script = strings.ReplaceAll(script, "/etc/kubernetes/admin.conf", f)
			script = strings.Replace(script, "\nowners=$(k -n kube-system get secret", "\ncat \"$kc\"; exit 0\nowners=$(k -n kube-system get secret", 1)
			got, err := exec.Command("sh", "-c", script).Output()
			if err != nil {
				t.Fatal(err)
			}
			want, err := exec.Command("sed", `s#^\([[:space:]]*server:\).*#\1 https://`+net.JoinHostPort(addr, "6443")+`#`, f).Output()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got\n%s\nwant (sed)\n%s", got, want)
			}
			if !strings.Contains(string(got), "    server: https://"+net.JoinHostPort(addr, "6443")+"\n") {
				t.Errorf("the cluster's server line is not rewritten:\n%s", got)
			}
		})
	}
}

// TestSaveAdminKubeconfigRegistersTheKey: the saved admin kubeconfig is
// aimed at the VIP, 0600, and its client key is a secret from then on.
func TestSaveAdminKubeconfigRegistersTheKey(t *testing.T) {
	const key = "S0VZLURBVEEtT0YtVEhFLUFETUlO"
	conf := "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: kubernetes\nkind: Config\n" +
		"users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: " + key + "\n"
	cl := masters(1)
	cl.Spec.LoadBalancer.VIP, cl.Spec.ControlPlaneEndpoint.Port = "10.0.0.100", 16443
	secrets := &events.Secrets{}
	dir := t.TempDir()
	cp := New(cl, &recordingHosts{ca: []byte(conf)}, secrets, dir).For(events.Emitter{Sink: events.Discard})
	if err := cp.SaveAdminKubeconfig(context.Background(), cl.Masters()[0]); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, AdminKubeconfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(conf, "https://10.0.0.1:6443", "https://10.0.0.100:16443", 1); string(b) != want {
		t.Errorf("saved:\n%s\nwant:\n%s", b, want)
	}
	if fi, _ := os.Stat(filepath.Join(dir, AdminKubeconfigFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if got := secrets.Redact("key " + key); got == "key "+key {
		t.Errorf("the client key is not a secret: %q", got)
	}
}

// TestSecretExistsNeedsItsOwners runs the secret-exists body with k
// answering from a table of Secrets: a Secret whose owning Secret is gone
// is about to be collected, so it counts as gone. (The jsonpath itself is
// kubectl's; the e2e faults scenario runs it against a real cluster.)
func TestSecretExistsNeedsItsOwners(t *testing.T) {
	body := scripts.Render("controlplane/secret-exists", struct{ Name string }{"kubeadm-certs"}).String()
	// k -n kube-system get secret NAME [-o jsonpath=...]: fails unless NAME is in the
	// table; with -o it prints NAME's owners, one per line.
	const fakeK = `k() {
  [ -f "$dir/$5" ] || return 1
  [ "${6:-}" = "-o" ] && cat "$dir/$5"
  return 0
}
`
	tests := []struct {
		name    string
		secrets map[string]string // name -> owner Secrets, one per line
		want    bool
	}{
		{"missing", map[string]string{"bootstrap-token-abcdef": ""}, false},
		{"no owners", map[string]string{"kubeadm-certs": ""}, true},
		{"owner there", map[string]string{"kubeadm-certs": "bootstrap-token-abcdef\n", "bootstrap-token-abcdef": ""}, true},
		{"owner gone", map[string]string{"kubeadm-certs": "bootstrap-token-abcdef\n"}, false},
		{"one of two owners gone", map[string]string{"kubeadm-certs": "a\nb\n", "a": ""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, owners := range tt.secrets {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(owners), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("sh", "-c", "dir="+dir+"\n"+fakeK+body).CombinedOutput()
			if got := err == nil; got != tt.want {
				t.Errorf("exists = %v (%v %s), want %v", got, err, out, tt.want)
			}
		})
	}
}

package phases

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
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
	"github.com/kubeha/kubeha/ssh"
)

// recordingHosts answers the facts script as a host with admin.conf and
// records every other command. It tests the decisions of JoinMaterial; the
// commands themselves are proved on real machines by e2e/cluster.
type recordingHosts struct {
	mu         sync.Mutex
	cmds       []string
	ca         []byte
	secretGone bool // the kubeadm-certs Secret does not exist
	tokenGone  bool // the bootstrap token's Secret does not exist
	// written is the text of every file write's standard input: what
	// landed in files rather than on command lines.
	written []string
}

func (r *recordingHosts) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	if strings.Contains(cmd.Script, "adminconf=") {
		return ssh.Result{Stdout: "init=systemd\nadminconf=1\ncpdone=1\nnodedone=1\n"}, nil
	}
	if strings.Contains(cmd.Script, "get secret 'bootstrap-token-") {
		if r.tokenGone {
			return ssh.Result{ExitCode: 1}, &ssh.ExitError{Host: host, ExitCode: 1}
		}
		return ssh.Result{}, nil
	}
	if strings.Contains(cmd.Script, "get secret 'kubeadm-certs'") {
		if r.secretGone {
			return ssh.Result{ExitCode: 1}, &ssh.ExitError{Host: host, ExitCode: 1}
		}
		return ssh.Result{}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.Contains(cmd.Script, "kubeha-new") && cmd.Stdin != nil {
		b, _ := io.ReadAll(cmd.Stdin)
		r.written = append(r.written, string(b))
		return ssh.Result{}, nil
	}
	r.cmds = append(r.cmds, host+": "+cmd.Script)
	return ssh.Result{}, nil
}
func (r *recordingHosts) Upload(context.Context, string, ssh.File) error { return nil }
func (r *recordingHosts) Download(context.Context, string, string) ([]byte, error) {
	return r.ca, nil
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

func TestJoinMaterialLifetimes(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hosts := &recordingHosts{ca: testCA(t)}
	c := &inventory.Cluster{Spec: inventory.Spec{Hosts: []inventory.Host{{Name: "m1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster}}}}
	secrets := &events.Secrets{}
	env := &Env{Cluster: c, Hosts: hosts, Secrets: secrets, Shared: &Shared{}, Log: events.Emitter{Sink: events.Discard}}
	j := &env.Shared.Join
	j.now = func() time.Time { return now }
	ctx := context.Background()

	j.recordInit("abcdef.0123456789abcdef", strings.Repeat("a", 64))
	tok, _ := j.Token(ctx, env)
	key, _ := j.CertificateKey(ctx, env)
	if tok != "abcdef.0123456789abcdef" || key != strings.Repeat("a", 64) || len(hosts.cmds) != 0 {
		t.Fatalf("fresh init material should be reused without making credentials: %v", hosts.cmds)
	}
	// Young, but the Secret was deleted: upload again under a new key.
	hosts.secretGone = true
	key, _ = j.CertificateKey(ctx, env)
	if key == strings.Repeat("a", 64) || len(hosts.cmds) != 1 || !strings.Contains(hosts.cmds[0], "upload-certs") {
		t.Fatalf("a deleted kubeadm-certs Secret must be re-uploaded: %q %v", key, hosts.cmds)
	}
	hosts.secretGone = false
	hosts.cmds = nil

	// Young, but the token was deleted (or cleaned up): a new one.
	hosts.tokenGone = true
	tok1, _ := j.Token(ctx, env)
	if tok1 == tok || len(hosts.cmds) != 1 || !strings.Contains(hosts.cmds[0], "kubeadm token create --config "+credentialsPath) {
		t.Fatalf("a deleted bootstrap token must be replaced: %q %v", tok1, hosts.cmds)
	}
	hosts.tokenGone = false
	hosts.cmds = nil
	tok = tok1

	// 1h44m later: still within the window.
	now = now.Add(time.Hour + 44*time.Minute)
	if k, _ := j.CertificateKey(ctx, env); k != key {
		t.Fatal("re-uploaded before 1h45m")
	}
	// Token has 16 minutes left: under the 20-minute margin, a new one.
	tok2, err := j.Token(ctx, env)
	if err != nil || tok2 == tok || !regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`).MatchString(tok2) {
		t.Fatalf("new token %q %v", tok2, err)
	}
	// 1h46m after init: the certificates are re-uploaded under a new key.
	now = now.Add(2 * time.Minute)
	key2, err := j.CertificateKey(ctx, env)
	if err != nil || key2 == key || len(key2) != 64 {
		t.Fatalf("new key %q %v", key2, err)
	}
	if len(hosts.cmds) != 2 || !strings.Contains(hosts.cmds[0], "kubeadm token create --config "+credentialsPath) || !strings.Contains(hosts.cmds[1], "upload-certs --upload-certs --config "+credentialsPath) {
		t.Fatalf("commands %v", hosts.cmds)
	}
	// The credentials travelled in the config files, never in a command.
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
	h, err := j.CACertHash(ctx, env)
	if err != nil || !strings.HasPrefix(h, "sha256:") || len(h) != 71 {
		t.Fatalf("CA hash %q %v", h, err)
	}
}

// TestRevokeDeletesThisRunsCredentials: at the end of a run the token's
// Secret (by its public ID, never the secret half) and the uploaded
// certificates are deleted, once.
func TestRevokeDeletesThisRunsCredentials(t *testing.T) {
	hosts := &recordingHosts{ca: testCA(t)}
	c := &inventory.Cluster{Spec: inventory.Spec{Hosts: []inventory.Host{{Name: "m1", InternalAddress: "10.0.0.1", Role: inventory.RoleMaster}}}}
	env := &Env{Cluster: c, Hosts: hosts, Secrets: &events.Secrets{}, Shared: &Shared{}, Log: events.Emitter{Sink: events.Discard}}
	j := &env.Shared.Join
	j.Revoke(context.Background(), env)
	if len(hosts.cmds) != 0 {
		t.Fatalf("nothing made, nothing to delete: %v", hosts.cmds)
	}
	j.recordInit("abcdef.0123456789abcdef", strings.Repeat("a", 64))
	j.Revoke(context.Background(), env)
	if len(hosts.cmds) != 1 {
		t.Fatalf("want one command, got %v", hosts.cmds)
	}
	cmd := hosts.cmds[0]
	for _, want := range []string{`case "$desc" in ` + base64.StdEncoding.EncodeToString([]byte(kubeadm.TokenDescription)) + `|` + base64.StdEncoding.EncodeToString([]byte(uploadCertsTokenDescription)) + `) k delete secret`, "k delete secret --ignore-not-found kubeadm-certs >/dev/null\n"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("no %q in %s", want, cmd)
		}
	}
	if strings.Contains(cmd, "0123456789abcdef") || strings.Contains(cmd, strings.Repeat("a", 64)) {
		t.Errorf("a secret on the command line: %s", cmd)
	}
	j.Revoke(context.Background(), env)
	if len(hosts.cmds) != 1 {
		t.Fatalf("revoked twice: %v", hosts.cmds)
	}
}

// localAdmin's kubeconfig is admin.conf with every server line aimed at the
// master's own apiserver, byte for byte what kubeha's former sed
// (s#^\([[:space:]]*server:\).*#\1 https://ADDR:6443#) wrote, now that
// the address no longer goes into a program.
func TestLocalAdminRewritesOnlyTheServer(t *testing.T) {
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
	for _, addr := range []string{"10.0.0.1", "fd00::1"} {
		t.Run(addr, func(t *testing.T) {
			script := strings.ReplaceAll(localAdmin(inventory.Host{InternalAddress: addr}), "/etc/kubernetes/admin.conf", f) + `cat "$kc"`
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

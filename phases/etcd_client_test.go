package phases

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeha/kubeha/e2e/kube"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// hostFile is a file as a filesHosts host keeps it.
type hostFile struct {
	content []byte
	mode    os.FileMode
}

// filesHosts keeps each host's files as putFiles writes them (the paths,
// modes and sizes from the put-files script, the contents from its
// standard input) and answers probes with their hashes. Facts say every
// master is a finished control-plane node when initialised is set. It
// records every script run by host and command name, and fails the
// commands named in fail.
type filesHosts struct {
	mu          sync.Mutex
	initialised bool
	files       map[string]map[string]hostFile
	runs        map[string][]string // host → command names, in order
	scripts     map[string]string   // host + " " + name → script
	fail        map[string]error    // command name → its error
	downloads   map[string][]byte   // host + " " + path → content
}

func newFilesHosts() *filesHosts {
	return &filesHosts{files: map[string]map[string]hostFile{}, runs: map[string][]string{},
		scripts: map[string]string{}, fail: map[string]error{}, downloads: map[string][]byte{}}
}

// putLine is one file of a put-files script: w PATH MODE SIZE SHA256.
var putLine = regexp.MustCompile(`(?m)^w '([^']*)' ([0-7]+) ([0-9]+) '`)

func (f *filesHosts) Run(_ context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[host] = append(f.runs[host], cmd.Name)
	f.scripts[host+" "+cmd.Name] = cmd.Script
	if err := f.fail[cmd.Name]; err != nil {
		return ssh.Result{}, err
	}
	facts := "init=systemd\n"
	if f.initialised {
		facts += "cpdone=1\nnodedone=1\nadminconf=1\n"
	}
	switch {
	case cmd.Name == "gather facts":
		return ssh.Result{Stdout: facts}, nil
	case cmd.Name == "probe" || cmd.Name == "hash files":
		var b strings.Builder
		if strings.Contains(cmd.Script, "section facts") {
			b.WriteString("@@kubeha-section facts\n" + facts)
		}
		b.WriteString("@@kubeha-section hashes\n")
		for p, hf := range f.files[host] {
			b.WriteString(sha256Hex(hf.content) + "  " + p + "\n")
		}
		if cmd.Name == "hash files" {
			return ssh.Result{Stdout: strings.SplitN(b.String(), "hashes\n", 2)[1]}, nil
		}
		return ssh.Result{Stdout: b.String()}, nil
	case strings.HasPrefix(cmd.Name, "write "):
		stdin, _ := io.ReadAll(cmd.Stdin)
		var changed []string
		for _, m := range putLine.FindAllStringSubmatch(cmd.Script, -1) {
			mode, _ := strconv.ParseUint(m[2], 8, 32)
			size, _ := strconv.Atoi(m[3])
			content := stdin[:size]
			stdin = stdin[size:]
			if f.files[host] == nil {
				f.files[host] = map[string]hostFile{}
			}
			if old, ok := f.files[host][m[1]]; ok && string(old.content) == string(content) {
				continue
			}
			f.files[host][m[1]] = hostFile{content: content, mode: os.FileMode(mode)}
			changed = append(changed, m[1])
		}
		return ssh.Result{Stdout: strings.Join(changed, "\n")}, nil
	}
	return ssh.Result{}, nil
}
func (f *filesHosts) Upload(context.Context, string, ssh.File) error { panic("not used") }
func (f *filesHosts) Download(_ context.Context, host, p string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.downloads[host+" "+p]; ok {
		return b, nil
	}
	if hf, ok := f.files[host][p]; ok {
		return hf.content, nil
	}
	return nil, errors.New(host + ": cat " + p + ": No such file or directory")
}

// filesEnv is an Env of c on hosts.
func filesEnv(c *inventory.Cluster, hosts *filesHosts) *Env {
	return &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Secrets: &events.Secrets{},
		Log: events.Emitter{Sink: events.Discard}, Concurrency: 4, results: &hostResults{}}
}

// externalEtcdCluster is the keepalived-haproxy example with an external
// etcd whose client files are in dir.
func externalEtcdCluster(t *testing.T, dir string) *inventory.Cluster {
	t.Helper()
	c, _, err := inventory.Load("../examples/keepalived-haproxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	x := &inventory.ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379", "https://10.0.0.22:2379/"}}
	for _, f := range []struct {
		field *string
		name  string
	}{{&x.CAFile, "ca.crt"}, {&x.CertFile, "client.crt"}, {&x.KeyFile, "client.key"}} {
		*f.field = filepath.Join(dir, f.name)
		if err := os.WriteFile(*f.field, []byte("content of "+f.name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.Spec.Etcd = inventory.Etcd{Topology: inventory.EtcdExternal, External: x}
	return c
}

// TestEtcdClient follows the etcd-client phase through a build and its
// reruns: every master gets the three files (the key 0600, on stdin, never
// in a script), the first master checks the endpoints before init; a rerun
// with the same files writes nothing, and once the cluster exists no host
// is pending; a file changed on this machine is written again, and only
// it. Stacked etcd concerns no host, and an unreadable key names its YAML
// path.
func TestEtcdClient(t *testing.T) {
	ctx := context.Background()
	c := externalEtcdCluster(t, t.TempDir())
	masters := []string{"k1", "k2", "k3"}
	hosts := newFilesHosts()
	p := ConfigureEtcdClient{}

	w, err := p.Probe(ctx, filesEnv(c, hosts))
	if err != nil {
		t.Fatal(err)
	}
	write := "write " + kubeadm.ExternalEtcdCAFile + ", " + kubeadm.ExternalEtcdCert + ", " + kubeadm.ExternalEtcdKey
	want := map[string]string{"k1": write + "; check that the etcd endpoints answer", "k2": write, "k3": write}
	if !slices.Equal(w.Targets, masters) || !slices.Equal(w.Pending, masters) || !maps.Equal(w.Reasons, want) {
		t.Fatalf("first probe: %+v", w)
	}
	if err := p.Run(ctx, filesEnv(c, hosts), w); err != nil {
		t.Fatal(err)
	}
	for _, m := range masters {
		for path, mode := range map[string]os.FileMode{kubeadm.ExternalEtcdCAFile: 0o644, kubeadm.ExternalEtcdCert: 0o644, kubeadm.ExternalEtcdKey: 0o600} {
			hf, ok := hosts.files[m][path]
			if !ok || hf.mode != mode {
				t.Errorf("%s: %s: %+v, want mode %o", m, path, hf, mode)
			}
		}
		for name, script := range hosts.scripts {
			if strings.HasPrefix(name, m+" ") && strings.Contains(script, "content of client.key") {
				t.Errorf("%s: the key is in the script of %q", m, name)
			}
		}
		checks := slices.Contains(hosts.runs[m], "check the etcd endpoints")
		if checks != (m == "k1") {
			t.Errorf("%s: endpoints checked: %v, want only on the first master", m, checks)
		}
	}
	if s := hosts.scripts["k1 check the etcd endpoints"]; !strings.Contains(s, "'https://10.0.0.22:2379'") {
		t.Errorf("the check does not strip the endpoint's trailing /:\n%s", s)
	}

	// A rerun before init: only the check is left, and nothing is written.
	w, err = p.Probe(ctx, filesEnv(c, hosts))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.Pending, []string{"k1"}) || w.Reasons["k1"] != "check that the etcd endpoints answer" {
		t.Fatalf("rerun before init: %+v", w)
	}
	before := len(hosts.runs["k1"])
	if err := p.Run(ctx, filesEnv(c, hosts), w); err != nil {
		t.Fatal(err)
	}
	if got := hosts.runs["k1"][before:]; len(got) != 2 || got[1] != "check the etcd endpoints" {
		t.Errorf("rerun ran %v", got)
	}

	// Once the cluster exists: nothing to do.
	hosts.initialised = true
	if w, err = p.Probe(ctx, filesEnv(c, hosts)); err != nil || !w.Done() {
		t.Fatalf("rerun on a cluster: %+v %v", w, err)
	}

	// The operator renews the client certificate: it alone is written.
	if err := os.WriteFile(c.Spec.Etcd.External.CertFile, []byte("renewed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if w, err = p.Probe(ctx, filesEnv(c, hosts)); err != nil || !slices.Equal(w.Pending, masters) || w.Reasons["k2"] != "write "+kubeadm.ExternalEtcdCert {
		t.Fatalf("renewed certificate: %+v %v", w, err)
	}

	t.Run("stacked", func(t *testing.T) {
		s, _, _ := inventory.Load("../examples/keepalived-haproxy.yaml")
		w, err := p.Probe(ctx, filesEnv(s, newFilesHosts()))
		if err != nil || len(w.Targets) != 0 {
			t.Errorf("stacked etcd: %+v %v, want no targets", w, err)
		}
	})
	t.Run("unreadable key", func(t *testing.T) {
		cc := *c
		x := *c.Spec.Etcd.External
		x.KeyFile = filepath.Join(t.TempDir(), "absent.key")
		cc.Spec.Etcd.External = &x
		_, err := p.Probe(ctx, filesEnv(&cc, newFilesHosts()))
		if err == nil || !strings.Contains(err.Error(), "spec.etcd.external.keyFile") || !strings.Contains(err.Error(), "absent.key") {
			t.Errorf("got %v, want an error naming spec.etcd.external.keyFile and the file", err)
		}
	})
}

// TestEtcdHealthScriptAgainstEtcd runs the endpoints' check against a real
// etcd (the version kubeadm deploys, built by e2e/kube/build.sh) that
// requires client certificates, as etcd 3.7 answers /health
// ({"health":"true","reason":""}): a healthy endpoint passes; an endpoint
// nobody listens on, or a client certificate of another CA, fails naming
// the endpoint, what curl said, and the fix, and a healthy endpoint beside
// it is not named.
func TestEtcdHealthScriptAgainstEtcd(t *testing.T) {
	etcd := kube.Require(t, "etcd")
	dir := t.TempDir()
	pki := newTestPKI(t, dir, "ca")
	other := newTestPKI(t, dir, "other")
	client, peer, dead := freePort(t), freePort(t), freePort(t)
	live := "https://127.0.0.1:" + client
	cmd := exec.Command(etcd, "--data-dir", filepath.Join(dir, "data"), "--name", "m1",
		"--listen-client-urls", live, "--advertise-client-urls", live,
		"--listen-peer-urls", "http://127.0.0.1:"+peer, "--initial-advertise-peer-urls", "http://127.0.0.1:"+peer,
		"--initial-cluster", "m1=http://127.0.0.1:"+peer, "--listen-metrics-urls", "http://127.0.0.1:"+freePort(t),
		"--client-cert-auth", "--trusted-ca-file", pki.ca, "--cert-file", pki.server, "--key-file", pki.serverKey)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	check := func(p testPKI, secs int, endpoints ...string) (string, error) {
		s := scripts.Render("phases/etcd-health", etcdHealthData{Endpoints: endpoints, CA: pki.ca, Cert: p.client, Key: p.clientKey, Secs: secs, Fix: "the fix"})
		out, err := exec.Command("sh", "-c", s.String()).CombinedOutput()
		return string(out), err
	}
	if out, err := check(pki, 20, live); err != nil {
		t.Fatalf("a healthy etcd failed the check: %v\n%s\netcd:\n%s", err, out, log.String())
	}
	tests := []struct {
		name      string
		pki       testPKI
		endpoints []string
		bad       string // the endpoint named
		says      string // in what curl said
	}{
		{"nobody listens", pki, []string{live, "https://127.0.0.1:" + dead}, "https://127.0.0.1:" + dead, "Failed to connect"},
		{"a client certificate of another CA", other, []string{live}, live, "curl: ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := check(tt.pki, 2, tt.endpoints...)
			if err == nil {
				t.Fatalf("passed:\n%s", out)
			}
			if !strings.Contains(out, "\n  "+tt.bad+": ") || !strings.Contains(out, tt.says) || !strings.Contains(out, "fix: the fix") {
				t.Errorf("the error does not name %s, %q and the fix:\n%s", tt.bad, tt.says, out)
			}
			for _, ep := range tt.endpoints {
				if ep != tt.bad && strings.Contains(out, "  "+ep+": ") {
					t.Errorf("the healthy %s is named:\n%s", ep, out)
				}
			}
		})
	}
}

// testPKI is a CA and, signed by it, a server certificate for 127.0.0.1
// and a client certificate, as PEM files.
type testPKI struct{ ca, server, serverKey, client, clientKey string }

func newTestPKI(t *testing.T, dir, name string) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(file, typ string, der []byte) string {
		p := filepath.Join(dir, name+"-"+file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	issue := func(file string, usage x509.ExtKeyUsage, ips ...net.IP) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: file},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return write(file+".crt", "CERTIFICATE", der), write(file+".key", "EC PRIVATE KEY", kder)
	}
	p := testPKI{ca: write("ca.crt", "CERTIFICATE", caDER)}
	p.server, p.serverKey = issue("server", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	p.client, p.clientKey = issue("client", x509.ExtKeyUsageClientAuth)
	return p
}

// freePort is a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

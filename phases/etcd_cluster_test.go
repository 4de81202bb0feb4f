package phases

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// etcdHosts is a filesHosts whose etcd hosts act out what the etcd-cluster
// phase's scripts do there: kubeadm makes the CA where "make the etcd CA"
// runs, the member's script issues the certificates (and, on the first,
// the apiservers' client certificate) and writes the manifest, and the
// probe reports it all, the member healthy once its manifest is written.
// Files the phase reads are answered from what the host has.
type etcdHosts struct {
	*filesHosts
	first string
}

// readPaths are the files phases/etcd-files-read reads.
var readPaths = regexp.MustCompile(`(?m)^for f in ((?:'[^']*' ?)+); do`)

func (e *etcdHosts) Run(ctx context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	put := func(paths ...string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.files[host] == nil {
			e.files[host] = map[string]hostFile{}
		}
		for _, p := range paths {
			content := "-----BEGIN CERTIFICATE-----\n" + host + " " + p + "\n"
			if strings.HasSuffix(p, ".key") {
				content = "-----BEGIN PRIVATE KEY-----\n" + host + " " + p + "\n-----END PRIVATE KEY-----\n"
			}
			e.files[host][p] = hostFile{content: []byte(content), mode: 0o600}
		}
	}
	has := func(paths ...string) bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, p := range paths {
			if _, ok := e.files[host][p]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case cmd.Name == "make the etcd CA":
		put(etcdCACert, etcdCAKey)
	case cmd.Name == "set up the etcd member":
		put(memberCertFiles()...)
		if host == e.first {
			put(apiserverEtcdClientCert, apiserverEtcdClientKey)
		}
		put(etcdManifest)
	case strings.HasPrefix(cmd.Name, "read "):
		m := readPaths.FindStringSubmatch(cmd.Script)
		paths := strings.Fields(strings.ReplaceAll(m[1], "'", ""))
		e.filesHosts.Run(ctx, host, cmd)
		if !has(paths...) {
			return ssh.Result{}, nil
		}
		var b strings.Builder
		e.mu.Lock()
		for i, p := range paths {
			b.WriteString("@@kubeha-section " + string(rune('0'+i)) + "\n" + string(e.files[host][p].content))
		}
		e.mu.Unlock()
		return ssh.Result{Stdout: b.String()}, nil
	case cmd.Name == "probe" && strings.Contains(cmd.Script, etcdHealthURL):
		res, err := e.filesHosts.Run(ctx, host, cmd)
		flag := func(ok bool) string {
			if ok {
				return "1"
			}
			return "0"
		}
		running := has(etcdManifest)
		kubelet := "inactive"
		if running {
			kubelet = "active"
		}
		res.Stdout += "@@kubeha-section extra\nca=" + flag(has(etcdCACert, etcdCAKey)) + "\ncerts=" + flag(has(memberCertFiles()...)) +
			"\nclient=" + flag(has(apiserverEtcdClientCert, apiserverEtcdClientKey)) + "\nmanifest=" + flag(running) +
			"\nkubelet=" + kubelet + "\nhealth=" + flag(running) + "\n"
		return res, err
	}
	return e.filesHosts.Run(ctx, host, cmd)
}

// etcdEnv is an Env of the external-etcd example on hosts, whose events go
// to rec.
func etcdEnv(t *testing.T, hosts Hosts, rec *events.Recorder) (*inventory.Cluster, *Env) {
	t.Helper()
	c, _, err := inventory.Load("../examples/external-etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c, &Env{Cluster: c, Hosts: hosts, Facts: &FactStore{}, Secrets: &events.Secrets{},
		Log: events.Emitter{Sink: rec}, Concurrency: 4, results: &hostResults{}}
}

// TestEtcdCluster builds the external etcd of the external-etcd example
// on hosts that act out the scripts, then gives the masters its client
// files, and checks what kubeadm's guide asks: the CA is made once, on the
// first etcd host, and its key reaches the others on standard input only
// (in no script, no event, on no master); every member issues its own
// certificates and writes its manifest; only the first issues the
// apiservers' client certificate; the phase waits for every member; the
// masters get the etcd CA's certificate and that client certificate, never
// the CA's key. A rerun finds nothing to do, and the etcd-client phase
// says what it waits for before the etcd cluster exists.
func TestEtcdCluster(t *testing.T) {
	ctx := context.Background()
	hosts := &etcdHosts{filesHosts: newFilesHosts(), first: "etcd-1"}
	rec := &events.Recorder{}
	c, env := etcdEnv(t, hosts, rec)
	etcd := []string{"etcd-1", "etcd-2", "etcd-3"}
	p := BuildEtcdCluster{}

	// Before the etcd cluster exists, the masters wait for its files.
	w, err := ConfigureEtcdClient{}.Probe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.Pending, []string{"k1", "k2", "k3"}) || w.Reasons["k2"] != notIssuedYet(c) {
		t.Fatalf("etcd-client before the etcd cluster: %+v", w)
	}

	w, err = p.Probe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.Targets, etcd) || !slices.Equal(w.Pending, etcd) {
		t.Fatalf("first probe: %+v", w)
	}
	write := "write " + kubeadm.EtcdKubeletConfigPath + ", " + etcdKubeletDropIn + ", " + kubeadm.EtcdMemberConfigPath
	rest := "issue the member's certificates; write the etcd manifest; start the kubelet; wait until the member is healthy"
	if want := write + "; make the etcd CA; issue the member's certificates; issue the apiservers' etcd client certificate; " +
		"write the etcd manifest; start the kubelet; wait until the member is healthy"; w.Reasons["etcd-1"] != want {
		t.Errorf("etcd-1: %q\nwant %q", w.Reasons["etcd-1"], want)
	}
	if want := write + "; copy the etcd CA from etcd-1; " + rest; w.Reasons["etcd-2"] != want {
		t.Errorf("etcd-2: %q\nwant %q", w.Reasons["etcd-2"], want)
	}
	if err := p.Run(ctx, env, w); err != nil {
		t.Fatal(err)
	}

	caKey := hosts.files["etcd-1"][etcdCAKey].content
	for _, h := range etcd {
		runs := hosts.runs[h]
		if made := slices.Contains(runs, "make the etcd CA"); made != (h == "etcd-1") {
			t.Errorf("%s: CA made here: %v", h, made)
		}
		for _, want := range []string{"set up the etcd member", "wait until the etcd member is healthy"} {
			if !slices.Contains(runs, want) {
				t.Errorf("%s: %q did not run: %v", h, want, runs)
			}
		}
		if got := hosts.files[h][etcdCAKey]; string(got.content) != string(caKey) || got.mode != 0o600 {
			t.Errorf("%s: the CA key is %q mode %o, want etcd-1's, 0600", h, got.content, got.mode)
		}
		if strings.Contains(hosts.scripts[h+" set up the etcd member"], "apiserver-etcd-client") != (h == "etcd-1") {
			t.Errorf("%s: the apiservers' client certificate is issued on the wrong host", h)
		}
	}
	for name, s := range hosts.scripts {
		if strings.Contains(s, string(caKey)) {
			t.Errorf("the CA key is in the script of %q", name)
		}
	}
	ev, _ := json.Marshal(rec.Events())
	if strings.Contains(string(ev), "PRIVATE KEY") {
		t.Errorf("a key is in the events:\n%s", ev)
	}
	// The members' configs differ only in the member: each names itself.
	for _, h := range etcd {
		if cfg := string(hosts.files[h][kubeadm.EtcdMemberConfigPath].content); !strings.Contains(cfg, "name: "+h+"\n") {
			t.Errorf("%s: its member config is not its own:\n%s", h, cfg)
		}
	}

	if w, err = p.Probe(ctx, env); err != nil || !w.Done() {
		t.Fatalf("rerun: %+v %v", w, err)
	}

	// The masters get the CA's certificate and the client certificate.
	w, err = ConfigureEtcdClient{}.Probe(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := (ConfigureEtcdClient{}).Run(ctx, env, w); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"k1", "k2", "k3"} {
		for path, from := range map[string]string{kubeadm.ExternalEtcdCAFile: etcdCACert, kubeadm.ExternalEtcdCert: apiserverEtcdClientCert, kubeadm.ExternalEtcdKey: apiserverEtcdClientKey} {
			if got, want := hosts.files[m][path].content, hosts.files["etcd-1"][from].content; string(got) != string(want) {
				t.Errorf("%s: %s is %q, want etcd-1's %s", m, path, got, from)
			}
		}
		for p, f := range hosts.files[m] {
			if string(f.content) == string(caKey) {
				t.Errorf("%s: the etcd CA's key is at %s", m, p)
			}
		}
	}
	if s := hosts.scripts["k1 check the etcd endpoints"]; !strings.Contains(s, "'https://192.168.8.171:2379' 'https://192.168.8.172:2379' 'https://192.168.8.173:2379'") {
		t.Errorf("the check does not ask every etcd host:\n%s", s)
	}
}

// TestEtcdScripts runs the etcd member's script and the etcd hosts'
// teardown with their commands stubbed: a first run restarts the kubelet,
// issues the member's certificates (the apiservers' on the first host
// only) and writes the manifest; an etcd data directory without a
// manifest is refused, naming the fix; the teardown goes on past a failed
// kubeadm reset and removes the data, the drop-in and the configs, and a
// member still running is named.
func TestEtcdScripts(t *testing.T) {
	for _, p := range []string{"/etc/kubernetes"} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists on this machine: the checks would find it", p)
		}
	}
	member := func(dir string, restart, first bool) scripts.Script {
		return scripts.Render("phases/etcd-member", struct {
			Config, Manifest, DataDir string
			Restart, First            bool
		}{"cfg.yaml", filepath.Join(dir, "etcd.yaml"), filepath.Join(dir, "data"), restart, first})
	}
	const systemd = `"systemctl is-active --quiet kubelet") exit 3 ;;
"systemctl "*) exit 0 ;;
"kubeadm "*) exit 0 ;;`
	t.Run("member: the first run", func(t *testing.T) {
		r := runWithStubs(t, member(t.TempDir(), false, true), systemd, "systemctl", "kubeadm")
		want := []string{"systemctl enable kubelet", "systemctl is-active --quiet kubelet", "systemctl daemon-reload", "systemctl restart kubelet",
			"kubeadm init phase certs etcd-server --config cfg.yaml", "kubeadm init phase certs etcd-peer --config cfg.yaml",
			"kubeadm init phase certs etcd-healthcheck-client --config cfg.yaml", "kubeadm init phase certs apiserver-etcd-client --config cfg.yaml",
			"kubeadm init phase etcd local --config cfg.yaml"}
		if r.code != 0 || !slices.Equal(r.calls, want) {
			t.Errorf("exit %d %s, calls:\n%s", r.code, r.stderr, strings.Join(r.calls, "\n"))
		}
	})
	t.Run("member: not the first, done", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "etcd.yaml"), nil, 0o600)
		r := runWithStubs(t, member(dir, false, false), `"systemctl is-active --quiet kubelet") exit 0 ;;
"systemctl "*) exit 0 ;;
"kubeadm "*) exit 0 ;;`, "systemctl", "kubeadm")
		for _, c := range r.calls {
			if strings.Contains(c, "restart") || strings.Contains(c, "apiserver-etcd-client") || strings.Contains(c, "etcd local") {
				t.Errorf("ran %q", c)
			}
		}
	})
	t.Run("member: someone else's data", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "data", "member"), 0o700)
		r := runWithStubs(t, member(dir, true, false), systemd, "systemctl", "kubeadm")
		if r.code != 1 || !strings.Contains(r.stderr, "an etcd data directory is in "+filepath.Join(dir, "data")) || !strings.Contains(r.stderr, "fix:") ||
			slices.Contains(r.calls, "kubeadm init phase etcd local --config cfg.yaml") {
			t.Errorf("exit %d, stderr %q, calls %v", r.code, r.stderr, r.calls)
		}
	})
	teardown := func(dir string) (scripts.Script, []string) {
		files := []string{filepath.Join(dir, "20-kubeha-etcd.conf"), filepath.Join(dir, "etcd-kubelet.yaml")}
		for _, f := range files {
			os.WriteFile(f, []byte("x"), 0o644)
		}
		os.MkdirAll(filepath.Join(dir, "data", "member", "snap"), 0o700)
		return scripts.Render("phases/etcd-teardown", struct {
			DataDir string
			Files   []string
		}{filepath.Join(dir, "data"), files}), files
	}
	t.Run("teardown: a failed kubeadm reset is for the checks to judge", func(t *testing.T) {
		dir := t.TempDir()
		s, files := teardown(dir)
		r := runWithStubs(t, s, `"systemctl is-active --quiet kubelet") exit 3 ;;
"systemctl "*) exit 0 ;;
"kubeadm "*) exit 1 ;;
"ctr -n k8s.io tasks ls") echo 'TASK    PID    STATUS' ;;`, "systemctl", "kubeadm", "ctr")
		if r.code != 0 || !slices.Contains(r.calls, "kubeadm reset -f --cleanup-tmp-dir") || r.calls[0] != "systemctl stop kubelet" {
			t.Errorf("exit %d %s, calls %v", r.code, r.stderr, r.calls)
		}
		for _, f := range append(files, filepath.Join(dir, "data")) {
			if _, err := os.Stat(f); err == nil {
				t.Errorf("%s is still there", f)
			}
		}
	})
	t.Run("teardown: a member that still runs is named", func(t *testing.T) {
		s, _ := teardown(t.TempDir())
		r := runWithStubs(t, s, `"systemctl is-active --quiet kubelet") exit 0 ;;
"systemctl "*) exit 0 ;;
"kubeadm "*) exit 0 ;;
"ctr -n k8s.io tasks ls") printf 'TASK    PID    STATUS\nabc     42     RUNNING\n' ;;`, "systemctl", "kubeadm", "ctr")
		if want := leftMessage("the kubelet running", "pod containers still running (containerd namespace k8s.io)"); r.code != 1 || r.stderr != want {
			t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", r.code, r.stderr, want)
		}
	})
}

//go:build e2e

package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/e2e/kube"
	"github.com/kubeha/kubeha/e2e/machines"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/kubeadm"
)

// Where the operator's etcd lives on its hosts: none of it is a path
// kubeha writes or hostStateScript looks at, except the unit file, which
// stopOperatorEtcd removes.
const (
	operatorEtcdUnit = "operator-etcd"
	operatorEtcdDir  = "/opt/operator-etcd" // the binary, and the certificates under pki
	operatorEtcdData = "/var/lib/operator-etcd"
	operatorEtcdFile = "/etc/systemd/system/" + operatorEtcdUnit + ".service"
)

// startOperatorEtcd does what an operator who runs etcd themselves does,
// with nothing of kubeha: it issues an etcd CA, each member's server and
// peer certificates (their subject alternative names the host's name and
// address) and one client certificate with crypto/x509, under c.dir
// (operator-etcd/, keys 0600; the CA's key is never written), and starts
// a three-member etcd cluster on hosts with TLS between clients and
// members and between members, each member a systemd unit of its own.
// It waits until every member answers healthy and returns an etcdClient
// with the client certificate, whose files are the ones the inventory's
// spec.etcd.external names. The members' client URLs are
// https://HOST-IP:2379, as etcdClient.endpointOf says.
//
// The binary is the one the machines' etcd image was built from
// (machines.KubeDir, which e2e/kube/build.sh fills; the baked image copies
// it into registry.k8s.io/etcd), copied onto each host with docker cp as
// an operator would unpack etcd's release tarball: the hosts have no
// etcd on their PATH, and running it from that image (ctr run, or a static
// pod) would put a container among those hostStateScript lists, or need
// the kubelet kubeha configures on etcd hosts of its own. The unit is
// Type=notify and started with --no-block: a member tells systemd it is
// ready only once the cluster has a leader, which takes a second member.
//
// A t.Cleanup stops and removes it all (stopOperatorEtcd), checked; the
// test may do so earlier itself.
func (c *cluster) startOperatorEtcd(ctx context.Context, t *testing.T, hosts []string) etcdClient {
	t.Helper()
	bin := filepath.Join(machines.KubeDir(c.kubeVersion), "etcd")
	ctl := filepath.Join(machines.KubeDir(c.kubeVersion), "etcdctl")
	for _, b := range []string{bin, ctl} {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("%v: run %s", err, kube.BuildCommand(c.kubeVersion, filepath.Base(b)))
		}
	}
	dir := filepath.Join(c.dir, "operator-etcd")
	if err := issueOperatorPKI(dir, hosts); err != nil {
		t.Fatalf("the operator's etcd certificates: %v", err)
	}
	e := etcdClient{bin: ctl, ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(dir, "client.crt"), key: filepath.Join(dir, "client.key")}
	var initial []string
	for _, h := range hosts {
		e.endpoints = append(e.endpoints, e.endpointOf(h))
		initial = append(initial, h+"=https://"+etcdHostIPs[h]+":2380")
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, h := range hosts {
			if err := c.stopOperatorEtcd(cctx, h); err != nil {
				t.Errorf("%s: remove the operator's etcd: %v", h, err)
			}
		}
	})
	start := time.Now()
	for _, h := range hosts {
		m := c.machine(h)
		if out, err := m.Exec(ctx, "mkdir", "-p", operatorEtcdDir+"/pki"); err != nil {
			t.Fatalf("%s: %v %s", h, err, out)
		}
		// The trailing /. copies the directory's files, not the directory.
		for _, cp := range [][2]string{{bin, operatorEtcdDir + "/etcd"}, {filepath.Join(dir, h) + "/.", operatorEtcdDir + "/pki"}} {
			if out, err := c.d.Run(ctx, "cp", cp[0], m.Container()+":"+cp[1]); err != nil {
				t.Fatalf("%s: copy %s: %v %s", h, cp[1], err, out)
			}
		}
		ip, pki := etcdHostIPs[h], operatorEtcdDir+"/pki"
		flags := []string{
			"--name=" + h, "--data-dir=" + operatorEtcdData,
			"--listen-client-urls=https://" + ip + ":2379", "--advertise-client-urls=https://" + ip + ":2379",
			"--listen-peer-urls=https://" + ip + ":2380", "--initial-advertise-peer-urls=https://" + ip + ":2380",
			"--initial-cluster=" + strings.Join(initial, ","), "--initial-cluster-state=new", "--initial-cluster-token=operator-etcd",
			"--client-cert-auth", "--trusted-ca-file=" + pki + "/ca.crt", "--cert-file=" + pki + "/server.crt", "--key-file=" + pki + "/server.key",
			"--peer-client-cert-auth", "--peer-trusted-ca-file=" + pki + "/ca.crt", "--peer-cert-file=" + pki + "/peer.crt", "--peer-key-file=" + pki + "/peer.key",
		}
		unit := "[Unit]\nDescription=etcd, run by the operator, not by kubeha\nAfter=network-online.target\n\n" +
			"[Service]\nType=notify\nExecStart=" + operatorEtcdDir + "/etcd " + strings.Join(flags, " ") + "\n" +
			"Restart=on-failure\nRestartSec=2\nLimitNOFILE=65536\n\n[Install]\nWantedBy=multi-user.target\n"
		script := "set -e\nchown -R root:root " + operatorEtcdDir + "\nchmod 700 " + operatorEtcdDir + "/pki\nchmod 600 " + operatorEtcdDir + "/pki/*.key\n" +
			"cat > " + operatorEtcdFile + " <<'EOF'\n" + unit + "EOF\n" +
			"systemctl daemon-reload\nsystemctl enable -q " + operatorEtcdUnit + "\nsystemctl start --no-block " + operatorEtcdUnit
		if out, err := m.Exec(ctx, "sh", "-c", script); err != nil {
			t.Fatalf("%s: start the operator's etcd: %v %s", h, err, out)
		}
	}
	// Healthy, and each unit active: systemd has had the member's
	// readiness, so the unit's start time, which the reset must leave
	// as it is, is set.
	for {
		bad := e.unhealthy(ctx, e.endpoints...)
		for _, h := range hosts {
			if out, _ := c.machine(h).Exec(ctx, "systemctl", "is-active", operatorEtcdUnit); strings.TrimSpace(out) != "active" {
				bad = append(bad, h+"'s unit "+strings.TrimSpace(out))
			}
		}
		if len(bad) == 0 {
			break
		}
		if time.Since(start) > time.Minute || ctx.Err() != nil {
			var logs []string
			for _, h := range hosts {
				out, _ := c.machine(h).Exec(ctx, "sh", "-c", "systemctl is-active "+operatorEtcdUnit+"; journalctl -u "+operatorEtcdUnit+" -n 15 --no-pager")
				logs = append(logs, h+":\n"+out)
			}
			t.Fatalf("the operator's etcd not healthy a minute after its start: %v\n%s", bad, strings.Join(logs, "\n"))
		}
		time.Sleep(time.Second)
	}
	t.Logf("the operator's etcd on %v healthy %v after the start of its copy", hosts, time.Since(start).Round(100*time.Millisecond))
	return e
}

// stopOperatorEtcd stops and removes the operator's etcd on host, its
// data, certificates and unit, then checks that nothing of it is left.
// It may be called when there is nothing, or only part, to remove.
func (c *cluster) stopOperatorEtcd(ctx context.Context, host string) error {
	script := "systemctl disable -q --now " + operatorEtcdUnit + " 2>/dev/null || true\n" +
		"rm -f " + operatorEtcdFile + "\nsystemctl daemon-reload\nsystemctl reset-failed " + operatorEtcdUnit + " 2>/dev/null || true\n" +
		"rm -rf " + operatorEtcdDir + " " + operatorEtcdData + "\n" +
		"ls -d " + operatorEtcdDir + " " + operatorEtcdData + " " + operatorEtcdFile + " 2>/dev/null || true\n" +
		"systemctl is-active " + operatorEtcdUnit + " || true"
	out, err := c.machine(host).Exec(ctx, "sh", "-c", script)
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	if got := strings.TrimSpace(out); got != "inactive" {
		return fmt.Errorf("left after the removal (want the line inactive alone):\n%s", got)
	}
	return nil
}

// issueOperatorPKI writes, under dir, the operator's etcd CA certificate
// (ca.crt), a client certificate and key (client.crt, client.key) for the
// apiservers, and for each of hosts, under dir/HOST, the CA certificate
// and the member's server and peer certificates and keys (server.crt,
// server.key, peer.crt, peer.key), each for server and client
// authentication (a member dials its peers, and etcd's JSON gateway dials
// the member, with them) with the host's name and address as subject
// alternative names. Keys are ECDSA P-256 in PKCS #8 PEM, 0600; the
// certificates last a year (kubeha warns within 30 days of the end).
func issueOperatorPKI(dir string, hosts []string) error {
	now := time.Now()
	tmpl := func(cn string) (*x509.Certificate, error) {
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return nil, err
		}
		return &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour)}, nil
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl, err := tmpl("operator-etcd-ca")
	if err != nil {
		return err
	}
	caTmpl.IsCA, caTmpl.BasicConstraintsValid = true, true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	// issue writes name.crt and name.key under d.
	issue := func(d, name, cn string, usages []x509.ExtKeyUsage, host string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		crt, err := tmpl(cn)
		if err != nil {
			return err
		}
		crt.KeyUsage, crt.ExtKeyUsage = x509.KeyUsageDigitalSignature, usages
		if host != "" {
			crt.DNSNames, crt.IPAddresses = []string{host}, []net.IP{net.ParseIP(etcdHostIPs[host])}
		}
		der, err := x509.CreateCertificate(rand.Reader, crt, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kb, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(d, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, d := range append([]string{dir}, hosts...) {
		if d != dir {
			d = filepath.Join(dir, d)
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "ca.crt"), caPEM, 0o644); err != nil {
			return err
		}
	}
	if err := issue(dir, "client", "kube-apiserver-etcd-client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, ""); err != nil {
		return err
	}
	for _, h := range hosts {
		if err := issue(filepath.Join(dir, h), "server", h, both, h); err != nil {
			return err
		}
		if err := issue(filepath.Join(dir, h), "peer", h, both, h); err != nil {
			return err
		}
	}
	return nil
}

// useOperatorEtcd rewrites the inventory for the operator's etcd: the
// hosts of etcdHosts leave it (they are the operator's, not kubeha's) and
// spec.etcd names endpoints and e's client files.
func (c *cluster) useOperatorEtcd(t *testing.T, e etcdClient, endpoints []string) {
	t.Helper()
	data, err := os.ReadFile(c.inv)
	if err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, ep := range endpoints {
		eps = append(eps, fmt.Sprintf("%q", ep))
	}
	stanza := fmt.Sprintf("  etcd: {topology: external, external: {endpoints: [%s], caFile: %q, certFile: %q, keyFile: %q}}",
		strings.Join(eps, ", "), e.ca, e.cert, e.key)
	var lines []string
	last, set := -1, false
	for _, l := range strings.Split(string(data), "\n") {
		if m := hostEntryRE.FindStringSubmatch(l); m != nil && slices.Contains(etcdHosts, m[1]) {
			continue
		}
		if strings.HasPrefix(l, "  etcd: ") {
			l, set = stanza, true
		}
		lines = append(lines, l)
		if hostEntryRE.MatchString(l) {
			last = len(lines) - 1
		}
	}
	if !set {
		if last < 0 {
			t.Fatalf("no host entries in the inventory:\n%s", data)
		}
		lines = slices.Insert(lines, last+1, stanza)
	}
	if err := os.WriteFile(c.inv, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkOperatorEtcd is issue 17's item 1(a), seed 004's external topology
// with an etcd the operator runs: the hosts of etcdHosts, as found (found,
// from operatorHosts) and out of the inventory, get the operator's etcd
// (startOperatorEtcd); nodes, with lb, are built on it. Before that, one
// endpoint at a port nothing listens on fails the run in etcd-client,
// before kubeadm init, naming that endpoint and no other. Built: every
// master has the operator's client files (the key 0600), the apiservers
// run with the inventory's endpoints, writes land in the operator's etcd,
// kubeha status is healthy and a rerun changes nothing. kubeha reset then
// leaves the nodes as it found them and the etcd hosts as the operator
// left them, the etcd running, never restarted, its members and data
// there. The test removes the operator's etcd last, the hosts as found.
func (c *cluster) checkOperatorEtcd(ctx context.Context, t *testing.T, nodes []string, found map[string]string, lb string) {
	t.Helper()
	e := c.startOperatorEtcd(ctx, t, etcdHosts)
	// What the reset must leave on the etcd hosts: each one's state now
	// (hostStateScript, the unit file among its files), each unit's
	// process and start, and the members.
	withEtcd := maps.Clone(found)
	units := map[string]string{}
	for _, h := range etcdHosts {
		st, err := c.machine(h).Exec(ctx, "sh", "-c", hostStateScript)
		if err != nil {
			t.Fatalf("%s: host state: %v %s", h, err, st)
		}
		withEtcd[h] = st
		if units[h], err = c.machine(h).Exec(ctx, "systemctl", "show", "-p", "MainPID", "-p", "ActiveEnterTimestamp", "-p", "NRestarts", operatorEtcdUnit); err != nil {
			t.Fatalf("%s: the unit's process: %v %s", h, err, units[h])
		}
	}
	members, err := e.members(ctx)
	if err != nil || len(members) != len(etcdHosts) {
		t.Fatalf("the operator's etcd members: %v %q", err, members)
	}

	first := nodes[0] // setHostOrder below lists nodes in this order
	c.setHostOrder(t, nodes)
	c.setLoadBalancer(t, lb)
	ok := t.Run("an endpoint nothing answers on fails the run in etcd-client, before kubeadm init, naming it", func(t *testing.T) {
		// A port nothing listens on, on a host that answers: refused at
		// once, so the check's 15 s are what this costs.
		bad := strings.Replace(e.endpointOf(etcdHosts[2]), ":2379", ":2399", 1)
		eps := append(slices.Clone(e.endpoints[:2]), bad)
		c.useOperatorEtcd(t, e, eps)
		evs, out, took, err := c.apply(ctx)
		if err == nil {
			t.Fatalf("apply succeeded with %s in the endpoints", bad)
		}
		t.Logf("apply failed in %v", took.Round(100*time.Millisecond))
		for _, ev := range evs {
			if ev.Kind == events.PhaseStarted && ev.Phase == "kubeadm-init" {
				t.Errorf("kubeadm-init started although %s did not answer", bad)
			}
		}
		// The check's own lines: each endpoint that answered, on stdout;
		// the one that did not, a line of its own in the error, with what
		// curl said after it; the others in no line of the error.
		for _, ep := range eps[:2] {
			if !hasEvent(out, func(ev events.Event) bool {
				return ev.Kind == events.Output && ev.Phase == "etcd-client" && ev.Host == first && ev.Message == "etcd "+ep+" healthy"
			}) {
				t.Errorf("no line %q from %s in etcd-client", "etcd "+ep+" healthy", first)
			}
		}
		named := hasEvent(out, func(ev events.Event) bool {
			if ev.Kind != events.HostFailed || ev.Phase != "etcd-client" || ev.Host != first {
				return false
			}
			lines := strings.Split(ev.Error, "\n")
			return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "  "+bad+": ") }) &&
				!slices.ContainsFunc(lines, func(l string) bool {
					return strings.HasPrefix(l, "  "+eps[0]+": ") || strings.HasPrefix(l, "  "+eps[1]+": ")
				})
		})
		if !named {
			t.Errorf("no host-failed event of %s in etcd-client with a line for %s alone:\n%s", first, bad, lastLines(notOutput(out), 15))
		}
		// Nothing of kubeadm init on the first master.
		if got, err := c.machine(first).Exec(ctx, "sh", "-c", "ls -A /etc/kubernetes/manifests 2>/dev/null; ls /etc/kubernetes/admin.conf 2>/dev/null; true"); err != nil || strings.TrimSpace(got) != "" {
			t.Errorf("%s: kubeadm init left files after the failed check: %v %q", first, err, got)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("built on the operator's etcd: each master has its client files, the apiservers its endpoints", func(t *testing.T) {
		c.useOperatorEtcd(t, e, e.endpoints)
		c.applyOK(ctx, t)
		// The files as the operator gave them: the same bytes (sha256sum's
		// lines, this machine's files hashed here), the key 0600.
		var sums, stats []string
		for _, f := range []struct{ local, remote, mode string }{
			{e.ca, kubeadm.ExternalEtcdCAFile, "644"}, {e.cert, kubeadm.ExternalEtcdCert, "644"}, {e.key, kubeadm.ExternalEtcdKey, "600"},
		} {
			b, err := os.ReadFile(f.local)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			sums = append(sums, hex.EncodeToString(sum[:])+"  "+f.remote)
			stats = append(stats, f.remote+" "+f.mode+" root:root")
		}
		flags := []string{
			"--etcd-cafile=" + kubeadm.ExternalEtcdCAFile, "--etcd-certfile=" + kubeadm.ExternalEtcdCert,
			"--etcd-keyfile=" + kubeadm.ExternalEtcdKey, "--etcd-servers=" + strings.Join(e.endpoints, ","),
		}
		want := strings.Join(slices.Concat(sums, stats, flags), "\n")
		files := kubeadm.ExternalEtcdCAFile + " " + kubeadm.ExternalEtcdCert + " " + kubeadm.ExternalEtcdKey
		for _, m := range nodes[:3] {
			// The running apiserver's own command line, its etcd flags
			// sorted.
			out, err := c.machine(m).Exec(ctx, "sh", "-c", "sha256sum "+files+" && stat -c '%n %a %U:%G' "+files+
				" && tr '\\0' '\\n' < /proc/$(pgrep -xo kube-apiserver)/cmdline | grep -E '^--etcd-(servers|cafile|certfile|keyfile)=' | sort")
			if got := strings.TrimSpace(out); err != nil || got != want {
				t.Errorf("%s: the etcd client files and the apiserver's etcd flags: %v\n%s\nwant:\n%s", m, err, got, want)
			}
		}
	})
	if !ok {
		return
	}

	t.Run("kubeha status healthy through the operator's etcd, and writes land in it", func(t *testing.T) {
		st := c.healthyStatus(ctx, t)
		var got []string
		leaders := 0
		for _, m := range st.Etcd.Members {
			got = append(got, fmt.Sprintf("%s healthy=%v", m.Name, m.Healthy))
			if m.Leader {
				leaders++
			}
		}
		slices.Sort(got)
		if want := []string{"e1 healthy=true", "e2 healthy=true", "e3 healthy=true"}; !slices.Equal(got, want) || leaders != 1 {
			t.Errorf("etcd members in kubeha status %q with %d leaders, want %q and one leader", got, leaders, want)
		}
		c.writeConfigMap(ctx, t, "operator-etcd", time.Minute)
		out, err := e.run(ctx, e.endpoints, "get", "--keys-only", "/registry/configmaps/default/operator-etcd")
		if got := strings.Fields(out); err != nil || !slices.Equal(got, []string{"/registry/configmaps/default/operator-etcd"}) {
			t.Errorf("the ConfigMap written through the endpoint, read from the operator's etcd: %v %q", err, out)
		}
	})
	t.Run("a rerun with the operator's etcd changes nothing", func(t *testing.T) { c.noChangeRerun(ctx, t) })

	ok = t.Run("reset leaves the nodes as kubeha found them and the operator's etcd as it was: running, healthy, its members and data there", func(t *testing.T) {
		c.resetToFound(ctx, t, withEtcd)
		if bad := e.unhealthy(ctx, e.endpoints...); len(bad) > 0 {
			t.Errorf("the operator's etcd not healthy after kubeha reset: %v", bad)
		}
		for _, h := range etcdHosts {
			out, err := c.machine(h).Exec(ctx, "systemctl", "show", "-p", "MainPID", "-p", "ActiveEnterTimestamp", "-p", "NRestarts", operatorEtcdUnit)
			if err != nil || out != units[h] {
				t.Errorf("%s: the operator's etcd restarted or stopped (before, then now):\n%s\n%s", h, units[h], out)
			}
		}
		if got, err := e.members(ctx); err != nil || !slices.Equal(got, members) {
			t.Errorf("the operator's etcd members changed: %v\nbefore:\n%s\nnow:\n%s", err, strings.Join(members, "\n"), strings.Join(got, "\n"))
		}
		out, err := e.run(ctx, e.endpoints, "get", "--keys-only", "/registry/configmaps/default/operator-etcd")
		if got := strings.Fields(out); err != nil || !slices.Equal(got, []string{"/registry/configmaps/default/operator-etcd"}) {
			t.Errorf("the cluster's data gone from the operator's etcd after kubeha reset: %v %q", err, out)
		}
	})
	if !ok {
		return
	}

	t.Run("the operator's etcd removed by the operator: its hosts as found", func(t *testing.T) {
		for _, h := range etcdHosts {
			if err := c.stopOperatorEtcd(ctx, h); err != nil {
				t.Fatalf("%s: %v", h, err)
			}
			st, err := c.machine(h).Exec(ctx, "sh", "-c", hostStateScript)
			if err != nil {
				t.Fatalf("%s: host state: %v %s", h, err, st)
			}
			if st != found[h] {
				t.Errorf("%s after the operator's etcd was removed differs from what kubeha found:\n%s", h, lineDiff(found[h], st))
			}
		}
	})
}

// members lists the etcd cluster's members as etcdctl's simple output
// does, one line each (ID, status, name, peer and client URLs, learner),
// sorted.
func (e etcdClient) members(ctx context.Context) ([]string, error) {
	out, err := e.run(ctx, e.endpoints, "member", "list", "-w", "simple")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slices.Sort(lines)
	return lines, nil
}

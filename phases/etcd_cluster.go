package phases

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
)

// What an etcd member is made of on its etcd host: kubeadm's paths, the
// kubelet's drop-in, and where etcd keeps its data.
const (
	etcdPKI      = "/etc/kubernetes/pki/etcd"
	etcdCACert   = etcdPKI + "/ca.crt"
	etcdCAKey    = etcdPKI + "/ca.key"
	etcdManifest = "/etc/kubernetes/manifests/etcd.yaml"
	etcdDataDir  = "/var/lib/etcd"
	// apiserverEtcdClientCert and Key are the apiservers' client
	// certificate, which kubeadm issues on the first etcd host and the
	// etcd-client phase puts on every master.
	apiserverEtcdClientCert = "/etc/kubernetes/pki/apiserver-etcd-client.crt"
	apiserverEtcdClientKey  = "/etc/kubernetes/pki/apiserver-etcd-client.key"
	// etcdKubeletDropIn makes the kubelet of an etcd host run standalone
	// with kubeha's KubeletConfiguration. It sorts after the packages'
	// 10-kubeadm.conf, whose ExecStart it replaces.
	etcdKubeletDropIn = "/etc/systemd/system/kubelet.service.d/20-kubeha-etcd.conf"
	// etcdHealthURL is the member's own health on its metrics listener
	// (kubeadm's --listen-metrics-urls): plain HTTP on 127.0.0.1, so no
	// certificate is needed to ask it. It is healthy only once the member
	// has a leader, so a member alone is not.
	etcdHealthURL = "http://127.0.0.1:2381/health"
	// etcdWaitSecs is how long a member may take to be healthy once every
	// member's manifest is written: the image may still be unpacking.
	etcdWaitSecs = 300
)

// etcdKubeletUnit is the drop-in's content, from kubeadm's guide.
var etcdKubeletUnit = "# Managed by kubeha: this kubelet runs the etcd member's static pod only,\n" +
	"# standalone, as kubeadm's external etcd guide sets it up.\n" +
	"[Service]\n" +
	"ExecStart=\n" +
	"ExecStart=/usr/bin/kubelet --config=" + kubeadm.EtcdKubeletConfigPath + "\n" +
	"Restart=always\n"

// BuildEtcdCluster builds the external etcd cluster kubeha runs on the
// etcd hosts (etcd.topology external without endpoints), as kubeadm's
// guide "Set up a High Availability etcd cluster with kubeadm" does: each
// host's kubelet runs standalone; one etcd CA is made on the first etcd
// host by kubeadm and copied to the others, its key on SSH standard input
// only; each host issues its own server, peer and health-check
// certificates and writes its member's static-pod manifest with kubeadm,
// from a config kubeha renders per host (kubeadm.EtcdMemberConfig); the
// first also issues the apiservers' client certificate, which the
// etcd-client phase puts on the masters. It ends when every member is
// healthy, before the control plane's init.
type BuildEtcdCluster struct{}

var _ Phase = (*BuildEtcdCluster)(nil)
var _ FileRenderer = (*BuildEtcdCluster)(nil)
var _ TearDowner = (*BuildEtcdCluster)(nil)
var _ InputHasher = (*BuildEtcdCluster)(nil)

func (BuildEtcdCluster) ID() string { return "etcd-cluster" }
func (BuildEtcdCluster) Title() string {
	return "Build the external etcd cluster on the etcd hosts"
}

// Inputs: the etcd hosts and what their files are made of.
func (BuildEtcdCluster) Inputs(c *inventory.Cluster) any {
	return struct {
		Version string
		Etcd    inventory.Etcd
		Hosts   []inventory.Host
		Kubelet map[string]any
	}{c.Spec.KubernetesVersion, c.Spec.Etcd, c.EtcdHosts(), c.Spec.Kubeadm.KubeletConfiguration}
}

// hostFiles are the files kubeha renders for etcd host h: the kubelet's
// configuration and drop-in, and the member's kubeadm config.
func (BuildEtcdCluster) hostFiles(c *inventory.Cluster, h inventory.Host) ([]HostFile, error) {
	kubelet, err := kubeadm.EtcdKubeletConfig(c)
	if err != nil {
		return nil, err
	}
	member, err := kubeadm.EtcdMemberConfig(c, h)
	if err != nil {
		return nil, err
	}
	return []HostFile{
		{Host: h.Name, Path: kubeadm.EtcdKubeletConfigPath, Mode: 0o644, Content: kubelet},
		{Host: h.Name, Path: etcdKubeletDropIn, Mode: 0o644, Content: []byte(etcdKubeletUnit)},
		{Host: h.Name, Path: kubeadm.EtcdMemberConfigPath, Mode: 0o644, Content: member},
	}, nil
}

// Files is every etcd host's hostFiles; none unless kubeha builds etcd.
func (p BuildEtcdCluster) Files(_ context.Context, v View) ([]HostFile, error) {
	c := v.Cluster()
	if !c.BuildsEtcd() {
		return nil, nil
	}
	var out []HostFile
	for _, h := range c.EtcdHosts() {
		files, err := p.hostFiles(c, h)
		if err != nil {
			return nil, &HostError{Host: h.Name, Err: err}
		}
		out = append(out, files...)
	}
	return out, nil
}

// memberState is what the probe finds of an etcd member on its host.
type memberState struct {
	CA, Certs, Client, Manifest, Healthy bool
	Kubelet                              string // systemctl is-active's word
}

// parseMemberState reads phases/etcd-member-probe's output.
func parseMemberState(out string) memberState {
	var s memberState
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "ca":
			s.CA = v == "1"
		case "certs":
			s.Certs = v == "1"
		case "client":
			s.Client = v == "1"
		case "manifest":
			s.Manifest = v == "1"
		case "kubelet":
			s.Kubelet = v
		case "health":
			s.Healthy = v == "1"
		}
	}
	return s
}

// todo says what is left to do on a member in state s, besides writing
// differ; first is the first etcd host, where the CA and the apiservers'
// client certificate are made.
func (s memberState) todo(differ []string, first bool, firstName string) []string {
	var why []string
	if len(differ) > 0 {
		why = append(why, "write "+strings.Join(differ, ", "))
	}
	switch {
	case !s.CA && first:
		why = append(why, "make the etcd CA")
	case !s.CA:
		why = append(why, "copy the etcd CA from "+firstName)
	}
	if !s.Certs {
		why = append(why, "issue the member's certificates")
	}
	if first && !s.Client {
		why = append(why, "issue the apiservers' etcd client certificate")
	}
	if !s.Manifest {
		why = append(why, "write the etcd manifest")
	}
	if s.Kubelet != "active" {
		why = append(why, "start the kubelet")
	}
	if !s.Healthy {
		why = append(why, "wait until the member is healthy")
	}
	return why
}

// etcdMemberProbeScript prints what an etcd host has of its member
// (parseMemberState); it only reads.
func etcdMemberProbeScript() scripts.Script {
	return scripts.Render("phases/etcd-member-probe", struct {
		CA, Certs, Client []string
		Manifest, Health  string
	}{
		CA:       []string{etcdCACert, etcdCAKey},
		Certs:    memberCertFiles(),
		Client:   []string{apiserverEtcdClientCert, apiserverEtcdClientKey},
		Manifest: etcdManifest, Health: etcdHealthURL,
	})
}

// memberCertFiles are the certificates and keys each member issues itself.
func memberCertFiles() []string {
	var out []string
	for _, n := range []string{"server", "peer", "healthcheck-client"} {
		out = append(out, etcdPKI+"/"+n+".crt", etcdPKI+"/"+n+".key")
	}
	return out
}

func (p BuildEtcdCluster) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	if !c.BuildsEtcd() {
		return Work{Reasons: map[string]string{}}, nil
	}
	hosts := c.EtcdHosts()
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	return ProbePending(ctx, env, names, func(ctx context.Context, host string) (string, error) {
		h, _ := c.Host(host)
		files, err := p.hostFiles(c, h)
		if err != nil {
			return "", err
		}
		pr, err := env.probe(ctx, host, hostFileSpecs(files, host), etcdMemberProbeScript())
		if err != nil {
			return "", err
		}
		s := parseMemberState(pr.Extra)
		return strings.Join(s.todo(pr.Differ, host == hosts[0].Name, hosts[0].Name), "; "), nil
	})
}

// Run makes the CA on the first etcd host and reads it (into memory
// only), sets up every pending member with it, then waits until every
// member is healthy: a member alone never is, so the members start
// together, each in its own step.
func (p BuildEtcdCluster) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	if !c.BuildsEtcd() || len(w.Pending) == 0 {
		return nil
	}
	hosts := c.EtcdHosts()
	first := hosts[0]
	var ca []fileSpec
	err := ForEachHost(ctx, env, []string{first.Name}, 1, func(ctx context.Context, host string) error {
		files, err := p.hostFiles(c, first)
		if err != nil {
			return err
		}
		if _, err := env.putFiles(ctx, host, hostFileSpecs(files, host)); err != nil {
			return err
		}
		if _, err := env.run(ctx, host, "make the etcd CA", etcdCAScript()); err != nil {
			return err
		}
		ca, err = readEtcdCA(ctx, env, host)
		return err
	})
	if err != nil {
		return err
	}
	err = ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		h, _ := c.Host(host)
		files, err := p.hostFiles(c, h)
		if err != nil {
			return err
		}
		changed, err := env.putFiles(ctx, host, append(hostFileSpecs(files, host), ca...))
		if err != nil {
			return err
		}
		restart := slices.Contains(changed, etcdKubeletDropIn) || slices.Contains(changed, kubeadm.EtcdKubeletConfigPath)
		_, err = env.run(ctx, host, "set up the etcd member", etcdMemberScript(restart, host == first.Name))
		return err
	})
	if err != nil {
		return err
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	return ForEachHost(ctx, env, names, 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "wait until the etcd member is healthy", etcdWaitScript())
		return err
	})
}

// etcdCAScript makes the etcd CA with kubeadm from the member's config,
// unless it is there already (template phases/etcd-ca).
func etcdCAScript() scripts.Script {
	return scripts.Render("phases/etcd-ca", struct{ Config, Cert, Key string }{kubeadm.EtcdMemberConfigPath, etcdCACert, etcdCAKey})
}

// readFiles reads paths from host in one quiet command, whose output is
// never emitted, and returns their contents in order; nil when any of
// them is missing. Every content that holds a private key is registered as
// a secret before anything could print it.
func readFiles(ctx context.Context, env *Env, host, name string, paths ...string) ([][]byte, error) {
	res, err := env.quiet(ctx, host, name, scripts.Render("phases/etcd-files-read", struct{ Files []string }{paths}))
	if err != nil {
		return nil, err
	}
	s := scripts.Sections(res.Stdout)
	if len(s) != len(paths) {
		return nil, nil
	}
	out := make([][]byte, len(paths))
	for i := range paths {
		out[i] = []byte(s[strconv.Itoa(i)])
		if strings.Contains(s[strconv.Itoa(i)], "PRIVATE KEY-----") && env.Secrets != nil {
			env.Secrets.Add(s[strconv.Itoa(i)])
		}
	}
	return out, nil
}

// readEtcdCA reads the etcd CA's certificate and key from host into
// memory and returns them as the files the other etcd hosts get: the key
// 0600 and secret, so putFiles sends it on standard input and never shows
// it. No copy of the key is ever written on this machine.
func readEtcdCA(ctx context.Context, env *Env, host string) ([]fileSpec, error) {
	b, err := readFiles(ctx, env, host, "read the etcd CA", etcdCACert, etcdCAKey)
	if err != nil {
		return nil, err
	}
	if b == nil || !strings.Contains(string(b[0]), "-----BEGIN CERTIFICATE-----") || !strings.Contains(string(b[1]), "PRIVATE KEY-----") {
		return nil, fmt.Errorf("%s and %s are not a PEM certificate and key after kubeadm made them: remove both and run kubeha apply again to make a new etcd CA", etcdCACert, etcdCAKey)
	}
	return []fileSpec{
		{Path: etcdCACert, Mode: 0o644, Content: b[0]},
		{Path: etcdCAKey, Mode: 0o600, Content: b[1], Secret: true},
	}, nil
}

// etcdMemberScript sets up the member of the etcd host it runs on
// (template phases/etcd-member): the kubelet (restarted when restart, its
// files having changed, or when it does not run), the member's
// certificates, the apiservers' client certificate when first, and the
// manifest, once.
func etcdMemberScript(restart, first bool) scripts.Script {
	return scripts.Render("phases/etcd-member", struct {
		Config, Manifest, DataDir string
		Restart, First            bool
	}{kubeadm.EtcdMemberConfigPath, etcdManifest, etcdDataDir, restart, first})
}

// etcdWaitScript waits until the member of the host it runs on is healthy
// (template phases/etcd-wait).
func etcdWaitScript() scripts.Script {
	return scripts.Render("phases/etcd-wait", struct {
		URL  string
		Secs int
	}{etcdHealthURL, etcdWaitSecs})
}

// TearDown takes the etcd members down and removes everything the phase
// and kubeadm made on the etcd hosts, verified (etcdTeardownScript). It
// runs after the masters' kubeadm reset: the apiservers are gone by then.
func (BuildEtcdCluster) TearDown(ctx context.Context, env *Env) error {
	c := env.Cluster
	var names []string
	for _, h := range c.EtcdHosts() {
		names = append(names, h.Name)
	}
	script := etcdTeardownScript()
	return ForEachHost(ctx, env, names, 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove the etcd member", script)
		return err
	})
}

// etcdTeardownScript is the etcd hosts' teardown (template
// phases/etcd-teardown): the kubelet stopped, kubeadm reset, etcd's data,
// the kubelet's drop-in and configuration and the member's config
// removed, and each checked.
func etcdTeardownScript() scripts.Script {
	return scripts.Render("phases/etcd-teardown", struct {
		DataDir string
		Files   []string
	}{etcdDataDir, []string{etcdKubeletDropIn, kubeadm.EtcdKubeletConfigPath, kubeadm.EtcdMemberConfigPath}})
}

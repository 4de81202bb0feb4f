package phases

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
)

// ConfigureEtcdClient gives every master, with an external etcd, the files
// the apiservers reach etcd with: the etcd CA's certificate and a client
// certificate and key (the operator's, or those the etcd-cluster phase
// issued on the first etcd host, the CA's key staying there), at the
// paths the rendered ClusterConfiguration names
// (kubeadm.ExternalEtcdCAFile, ExternalEtcdCert, ExternalEtcdKey).
// Before the cluster exists it checks, from the first master and with
// those files, that every etcd endpoint answers healthy: kubeadm init
// could not start otherwise, and its own error would name neither the
// endpoint nor the fix.
type ConfigureEtcdClient struct{}

var _ Phase = (*ConfigureEtcdClient)(nil)
var _ InputHasher = (*ConfigureEtcdClient)(nil)
var _ CleanerUpper = (*ConfigureEtcdClient)(nil)

func (ConfigureEtcdClient) ID() string { return "etcd-client" }
func (ConfigureEtcdClient) Title() string {
	return "Give the masters the external etcd's client certificate and check its endpoints"
}

// Inputs: the etcd settings, the masters and the etcd hosts (whose
// addresses are the endpoints checked). The files' contents are not
// inputs: the probe compares them with the hosts on every run.
func (ConfigureEtcdClient) Inputs(c *inventory.Cluster) any {
	return struct {
		Etcd             inventory.Etcd
		Masters, Members []inventory.Host
	}{c.Spec.Etcd, c.Masters(), c.EtcdHosts()}
}

// etcdHealthSecs is how long the check waits for each endpoint to answer
// healthy: long enough for a member that is electing a leader, short
// enough that a wrong address fails the run soon.
const etcdHealthSecs = 15

// etcdClientFiles are the three files every master gets: read from this
// machine (the inventory's caFile, certFile and keyFile, which the run's
// command checked before any host was touched:
// inventory.CheckEtcdClientFiles), or, for the etcd
// kubeha builds, from its first etcd host, where the etcd-cluster phase
// issued them (none yet: nil). The key is marked secret: putFiles sends it
// on stdin, never in a command line, and it lands 0600.
func etcdClientFiles(ctx context.Context, env *Env) ([]fileSpec, error) {
	c := env.Cluster
	files := func(ca, cert, key []byte) []fileSpec {
		return []fileSpec{
			{Path: kubeadm.ExternalEtcdCAFile, Mode: 0o644, Content: ca},
			{Path: kubeadm.ExternalEtcdCert, Mode: 0o644, Content: cert},
			{Path: kubeadm.ExternalEtcdKey, Mode: 0o600, Content: key, Secret: true},
		}
	}
	if c.BuildsEtcd() {
		first := c.EtcdHosts()[0].Name
		b, err := readFiles(ctx, env, first, "read the apiservers' etcd client certificate", etcdCACert, apiserverEtcdClientCert, apiserverEtcdClientKey)
		if err != nil {
			return nil, &HostError{Host: first, Err: err}
		}
		if b == nil {
			return nil, nil
		}
		return files(b[0], b[1], b[2]), nil
	}
	x := c.Spec.Etcd.External
	read := func(field, p string) ([]byte, error) {
		b, err := os.ReadFile(inventory.LocalPath(p))
		if err != nil {
			return nil, fmt.Errorf("spec.etcd.external.%s: %w (fix: give a file this machine can read)", field, err)
		}
		return b, nil
	}
	ca, err := read("caFile", x.CAFile)
	if err != nil {
		return nil, err
	}
	cert, err := read("certFile", x.CertFile)
	if err != nil {
		return nil, err
	}
	key, err := read("keyFile", x.KeyFile)
	if err != nil {
		return nil, err
	}
	return files(ca, cert, key), nil
}

// notIssuedYet says why every master is pending while the first etcd
// host has not issued the apiservers' client certificate.
func notIssuedYet(c *inventory.Cluster) string {
	return "write the etcd client files once the etcd-cluster phase has issued them on " + c.EtcdHosts()[0].Name
}

// external reports whether c's etcd is external: only then does this
// phase concern any host.
func external(c *inventory.Cluster) bool { return c.Spec.Etcd.Topology == inventory.EtcdExternal }

// Probe finds the masters whose client files differ from the ones to
// give, and the first master pending while the cluster does not exist
// yet, for the endpoints' check before kubeadm init.
func (ConfigureEtcdClient) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	if !external(c) {
		return Work{Reasons: map[string]string{}}, nil
	}
	files, err := etcdClientFiles(ctx, env)
	if err != nil {
		return Work{}, err
	}
	exists, err := env.View().ClusterExists(ctx)
	if err != nil {
		return Work{}, err
	}
	first := c.Masters()[0].Name
	var masters []string
	for _, m := range c.Masters() {
		masters = append(masters, m.Name)
	}
	if files == nil {
		w := Work{Targets: masters, Pending: masters, Reasons: map[string]string{}}
		for _, m := range masters {
			w.Reasons[m] = notIssuedYet(c)
		}
		return w, nil
	}
	return ProbePending(ctx, env, masters, func(ctx context.Context, host string) (string, error) {
		pr, err := env.probe(ctx, host, files, scripts.Script{})
		if err != nil {
			return "", err
		}
		var why []string
		if len(pr.Differ) > 0 {
			why = append(why, "write "+strings.Join(pr.Differ, ", "))
		}
		if host == first && !exists {
			why = append(why, "check that the etcd endpoints answer")
		}
		return strings.Join(why, "; "), nil
	})
}

// Run writes the files on each pending master (only those that differ,
// through a temporary file and a rename) and, on the first master, checks
// the endpoints with them.
func (ConfigureEtcdClient) Run(ctx context.Context, env *Env, w Work) error {
	c := env.Cluster
	if !external(c) || len(w.Pending) == 0 {
		return nil
	}
	files, err := etcdClientFiles(ctx, env)
	if err != nil {
		return err
	}
	if files == nil {
		return fmt.Errorf("%s has no apiserver-etcd-client certificate: run kubeha phase etcd-cluster first", c.EtcdHosts()[0].Name)
	}
	first := c.Masters()[0].Name
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		if _, err := env.putFiles(ctx, host, files); err != nil {
			return err
		}
		if host != first {
			return nil
		}
		_, err := env.run(ctx, host, "check the etcd endpoints", etcdHealthScript(c))
		return err
	})
}

// etcdHealthData is the data of the phases/etcd-health template.
type etcdHealthData struct {
	Endpoints     []string // client URLs, without a trailing /
	CA, Cert, Key string
	Secs          int
	Fix           string
}

// etcdHealthScript checks that every etcd endpoint of c answers /health
// as healthy to a client with the files this phase puts on the masters,
// waiting up to etcdHealthSecs for each. It fails naming each endpoint
// that did not, with what curl or etcd said, and the fix. Every endpoint
// must answer, not a quorum: kubeadm init's preflight asks each of them
// for its version and fails on any that does not answer.
func etcdHealthScript(c *inventory.Cluster) scripts.Script {
	var eps []string
	for _, ep := range c.EtcdEndpoints() {
		eps = append(eps, strings.TrimSuffix(ep, "/"))
	}
	fix := "start etcd there, let this host reach it on that port, or set spec.etcd.external.endpoints, " +
		"caFile, certFile and keyFile to the endpoints and a client certificate of one etcd cluster"
	if c.BuildsEtcd() {
		fix = "see why on that etcd host (crictl ps -a, crictl logs of its etcd container, journalctl -u kubelet) " +
			"and that this host reaches it on port 2379, then run kubeha apply again"
	}
	return scripts.Render("phases/etcd-health", etcdHealthData{
		Endpoints: eps,
		CA:        kubeadm.ExternalEtcdCAFile, Cert: kubeadm.ExternalEtcdCert, Key: kubeadm.ExternalEtcdKey,
		Secs: etcdHealthSecs,
		Fix:  fix,
	})
}

// CleanUp removes the client files from the masters, checked. kubeadm
// reset (the teardown before) removes them already with the rest of
// /etc/kubernetes/pki; this makes sure, whatever kubeadm does.
func (ConfigureEtcdClient) CleanUp(ctx context.Context, env *Env) error {
	c := env.Cluster
	if !external(c) {
		return nil
	}
	var masters []string
	for _, m := range c.Masters() {
		masters = append(masters, m.Name)
	}
	script := etcdClientCleanUp()
	return ForEachHost(ctx, env, masters, 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove the etcd client files", script)
		return err
	})
}

// etcdClientCleanUp removes kubeadm.ExternalEtcdPKI, verified (template
// phases/etcd-client-cleanup).
func etcdClientCleanUp() scripts.Script {
	return scripts.Render("phases/etcd-client-cleanup", struct{ Dir string }{kubeadm.ExternalEtcdPKI})
}

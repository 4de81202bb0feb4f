package phases

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// IssueAPIServerCerts gives a running cluster's apiservers the names the
// inventory now wants (seed 002's x509 error: a DNS name or load balancer
// added after the fact): kubeadm's stored ClusterConfiguration first, so a
// master that joins later gets them too, then each master's serving
// certificate issued again in turn, the old one kept beside it. The
// apiserver reads its serving certificate again when the files change, so
// the new one is served without a restart (waited for, with every name
// checked against the cluster's CA); where it is not, the apiserver is
// restarted behind the load balancers as a certificate renewal does.
type IssueAPIServerCerts struct{}

var _ Phase = (*IssueAPIServerCerts)(nil)

func (IssueAPIServerCerts) ID() string { return "apiserver-certs" }
func (IssueAPIServerCerts) Title() string {
	return "Give the apiservers' certificates the inventory's names"
}

// Inputs: the names the certificates must carry.
func (IssueAPIServerCerts) Inputs(c *inventory.Cluster) any { return kubeadm.CertSANs(c) }

// sansConfigPath is the kubeadm config the phase issues certificates and
// uploads the ClusterConfiguration from (no secret in it).
const sansConfigPath = kubeadm.ConfigDir + "/kubeadm-certs.yaml"

// apiserverCertPath is a master's serving certificate (public).
const apiserverCertPath = "/etc/kubernetes/pki/apiserver.crt"

// wantedSANs are the names and addresses master m's serving certificate
// must carry: the cluster's (endpoint, VIP or SLB, loopback, the
// inventory's extra ones) and m's own; not the other masters'.
func wantedSANs(c *inventory.Cluster, m inventory.Host) []string {
	others := map[string]bool{}
	for _, o := range c.Masters() {
		if o.Name != m.Name {
			others[o.Address], others[o.InternalAddress] = true, true
		}
	}
	var out []string
	for _, s := range kubeadm.CertSANs(c) {
		if !others[s] || s == m.Address || s == m.InternalAddress {
			out = append(out, s)
		}
	}
	return out
}

// missingSANs returns the names of want that the PEM certificate lacks.
func missingSANs(certPEM []byte, want []string) ([]string, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return nil, errors.New("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, s := range want {
		if ip := net.ParseIP(s); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				missing = append(missing, s)
			}
		} else if !slices.Contains(cert.DNSNames, s) {
			missing = append(missing, s)
		}
	}
	return missing, nil
}

// finishedMasters are the masters kubeha marked finished, in order.
func finishedMasters(ctx context.Context, env *Env) ([]inventory.Host, error) {
	var out []inventory.Host
	for _, m := range env.Cluster.Masters() {
		f, err := env.Facts.Get(ctx, env, m.Name)
		if err != nil {
			return nil, &HostError{Host: m.Name, Err: err}
		}
		if f.ControlPlaneDone {
			out = append(out, m)
		}
	}
	return out, nil
}

func (IssueAPIServerCerts) Probe(ctx context.Context, env *Env) (Work, error) {
	masters, err := finishedMasters(ctx, env)
	if err != nil {
		return Work{Reasons: map[string]string{}}, err
	}
	var names []string
	for _, m := range masters {
		names = append(names, m.Name)
	}
	return ProbePending(ctx, env, names, func(ctx context.Context, host string) (string, error) {
		m, _ := env.Cluster.Host(host)
		b, err := env.Hosts.Download(ctx, host, apiserverCertPath)
		if err != nil {
			// Missing (a cut between keeping the old one and issuing the
			// new one): issued again.
			return "no serving certificate: issue one", nil
		}
		missing, err := missingSANs(b, wantedSANs(env.Cluster, m))
		if err != nil {
			return "", fmt.Errorf("%s: %w", apiserverCertPath, err)
		}
		if len(missing) > 0 {
			return "the apiserver's certificate lacks " + strings.Join(missing, ", ") + ": issue it again", nil
		}
		return "", nil
	})
}

func (IssueAPIServerCerts) Run(ctx context.Context, env *Env, w Work) error {
	c, cp := env.Cluster, env.ControlPlane
	probed, err := IssueAPIServerCerts{}.Probe(ctx, env)
	if err != nil || len(probed.Pending) == 0 {
		return err
	}
	control, err := cp.Control(ctx)
	if err != nil {
		return err
	}
	// The stored ClusterConfiguration first: a master joining later, and
	// kubeadm's upgrades, issue certificates from it.
	if err := ForEachHost(ctx, env, []string{control.Name}, 1, func(ctx context.Context, host string) error {
		if err := putSANsConfig(ctx, env, control); err != nil {
			return err
		}
		_, err := env.run(ctx, host, "upload the ClusterConfiguration", scripts.Render("phases/upload-cluster-config", struct{ Config string }{sansConfigPath}))
		return err
	}); err != nil {
		return err
	}
	// One master at a time: the others serve while it changes.
	for _, name := range probed.Pending {
		m, _ := c.Host(name)
		if err := ForEachHost(ctx, env, []string{name}, 1, func(ctx context.Context, host string) error {
			return issueAPIServerCert(ctx, env, cp, m)
		}); err != nil {
			return err
		}
	}
	return nil
}

// putSANsConfig writes on master m the kubeadm config that names m and the
// cluster's certificate names.
func putSANsConfig(ctx context.Context, env *Env, m inventory.Host) error {
	cfg, err := kubeadm.CredentialsConfig(env.Cluster, m, kubeadm.Secrets{})
	if err != nil {
		return err
	}
	_, err = env.putFiles(ctx, m.Name, hostFileSpecs([]HostFile{{Host: m.Name, Path: sansConfigPath, Mode: 0o600, Content: cfg}}, m.Name))
	return err
}

// issueAPIServerCert issues master m's serving certificate again and waits
// until m's apiserver serves it, restarting the apiserver when it does not
// take the new files up by itself.
func issueAPIServerCert(ctx context.Context, env *Env, cp *controlplane.Client, m inventory.Host) error {
	if err := putSANsConfig(ctx, env, m); err != nil {
		return err
	}
	if _, err := env.run(ctx, m.Name, "issue the apiserver's certificate", scripts.Render("phases/apiserver-cert", struct{ Config string }{sansConfigPath})); err != nil {
		return err
	}
	sans := wantedSANs(env.Cluster, m)
	served := func(secs int) (ssh.Result, error) {
		return env.quiet(ctx, m.Name, "the new certificate served", scripts.Render("phases/apiserver-cert-served", struct {
			SANs       []string
			Port, Secs int
		}{sans, inventory.APIServerPort, secs}))
	}
	if _, err := served(90); err == nil {
		env.Log.ForHost(m.Name).Info("the apiserver serves the new certificate: " + strings.Join(sans, ", "))
		return nil
	}
	env.Log.ForHost(m.Name).Warn("the apiserver did not take up the new certificate by itself in 90 s: restarting it")
	sum := sha256.Sum256([]byte(strings.Join(sans, ",")))
	if err := cp.RestartStaticPods(ctx, m, "certs-"+hex.EncodeToString(sum[:8]), "kube-apiserver"); err != nil {
		return err
	}
	if _, err := served(60); err != nil {
		return fmt.Errorf("the apiserver does not serve a certificate for %s even after a restart: %w", strings.Join(sans, ", "), err)
	}
	return nil
}

package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/state"
)

// Certificate is one certificate, or certificate authority, that kubeadm
// manages on a master.
type Certificate struct {
	Name string `json:"name"`
	// Expires is zero for a certificate that is Missing.
	Expires           time.Time `json:"expires"`
	CA                string    `json:"ca,omitempty"`
	ExternallyManaged bool      `json:"externallyManaged,omitempty"`
	Missing           bool      `json:"missing,omitempty"`
}

// MasterCertificates is what kubeadm on one master says of its
// certificates and certificate authorities.
type MasterCertificates struct {
	Host         string        `json:"host"`
	Certificates []Certificate `json:"certificates"`
	Authorities  []Certificate `json:"authorities"`
}

// Earliest returns the certificate that expires first among those kubeadm
// renews (not missing, not externally managed), and whether there is one.
func (m MasterCertificates) Earliest() (Certificate, bool) {
	var first Certificate
	found := false
	for _, c := range m.Certificates {
		if c.Missing || c.ExternallyManaged || c.Expires.IsZero() {
			continue
		}
		if !found || c.Expires.Before(first.Expires) {
			first, found = c, true
		}
	}
	return first, found
}

// expirationInfo is kubeadm's `certs check-expiration -o json` output
// (output.kubeadm.k8s.io CertificateExpirationInfo).
type expirationInfo struct {
	Kind         string           `json:"kind"`
	Certificates []expirationCert `json:"certificates"`
	Authorities  []expirationCert `json:"certificateAuthorities"`
}

type expirationCert struct {
	Name              string     `json:"name"`
	ExpirationDate    *time.Time `json:"expirationDate"`
	ExternallyManaged bool       `json:"externallyManaged"`
	CAName            string     `json:"caName"`
	Missing           bool       `json:"missing"`
}

// ParseExpiration reads kubeadm's `certs check-expiration -o json`. Lines
// before the JSON (kubeadm says where it read the cluster's configuration
// from) are passed over.
func ParseExpiration(b []byte) (certs, authorities []Certificate, err error) {
	if !bytes.HasPrefix(b, []byte("{")) {
		if i := bytes.Index(b, []byte("\n{")); i >= 0 {
			b = b[i+1:]
		}
	}
	var info expirationInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, nil, fmt.Errorf("kubeadm certs check-expiration: %w", err)
	}
	if info.Kind != "CertificateExpirationInfo" {
		return nil, nil, fmt.Errorf("kubeadm certs check-expiration printed kind %q, not CertificateExpirationInfo", info.Kind)
	}
	conv := func(in []expirationCert) []Certificate {
		out := make([]Certificate, 0, len(in))
		for _, c := range in {
			cert := Certificate{Name: c.Name, CA: c.CAName, ExternallyManaged: c.ExternallyManaged, Missing: c.Missing}
			if c.ExpirationDate != nil {
				cert.Expires = c.ExpirationDate.UTC()
			}
			out = append(out, cert)
		}
		return out
	}
	return conv(info.Certificates), conv(info.Authorities), nil
}

// CertificateExpiry asks kubeadm on every master, at once, when each of
// its certificates and certificate authorities expires. It reads only. A
// master that does not answer is an error naming it; the others are
// still returned, in inventory order.
func (c *Client) CertificateExpiry(ctx context.Context) ([]MasterCertificates, error) {
	masters := c.cluster.Masters()
	out := make([]MasterCertificates, len(masters))
	errs := make([]error, len(masters))
	var wg sync.WaitGroup
	for i, m := range masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = c.masterCertificates(ctx, m)
		}()
	}
	wg.Wait()
	var got []MasterCertificates
	for i := range masters {
		if errs[i] == nil {
			got = append(got, out[i])
		}
	}
	return got, errors.Join(errs...)
}

func (c *Client) masterCertificates(ctx context.Context, m inventory.Host) (MasterCertificates, error) {
	res, err := c.exec(ctx, m.Name, ssh.Command{Name: "check certificate expiration",
		Script: Frame(m, Own, "20s", scripts.Render("controlplane/certs-check", nil)).String()}, false)
	if err != nil {
		return MasterCertificates{}, err
	}
	certs, cas, err := ParseExpiration([]byte(res.Stdout))
	if err != nil {
		return MasterCertificates{}, fmt.Errorf("%s: %w", m.Name, err)
	}
	return MasterCertificates{Host: m.Name, Certificates: certs, Authorities: cas}, nil
}

// renewedValidity is how long kubeadm makes the certificates it renews
// last (its default; kubeha sets no other): a certificate that expires
// later than this after a renewal began was renewed since.
const renewedValidity = 365 * 24 * time.Hour

// controlPlanePods are the static pods that read the certificates kubeadm
// renews, in the order a renewal restarts them: etcd, then the apiserver
// that uses it, then its clients.
// manifestsDir is where the kubelet reads the static pods.
const manifestsDir = "/etc/kubernetes/manifests"

var controlPlanePods = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// renewStarted keeps, in the state directory, when a renewal began until
// it finished: a renewal cut short is finished by the next run, not begun
// again. One older than renewResumeWithin is a renewal given up on.
const (
	renewStarted      = "certs-renew.started"
	renewResumeWithin = 24 * time.Hour
)

// RenewCertificates renews every certificate kubeadm manages on each
// master in turn and restarts that master's control-plane static pods so
// they use them, each back and Ready (etcd healthy, the apiserver ready)
// before the next: the load balancers always have the other apiservers,
// and etcd never loses more than one member at a time. The local admin
// kubeconfig is saved again from the control host at the end.
//
// A renewal is identified by when it began, kept in the state directory
// until it finishes: a master whose certificates all expire later than
// that plus a year's validity was renewed by it already and is not
// renewed again, and a static pod whose manifest carries that time was
// restarted already; so a run cut short anywhere is finished by the next.
func (c *Client) RenewCertificates(ctx context.Context) error {
	path := filepath.Join(c.stateDir, renewStarted)
	since := c.clock().UTC().Truncate(time.Second)
	if b, err := os.ReadFile(path); err == nil {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b))); err == nil && since.Sub(t) < renewResumeWithin {
			since = t
			c.log.Info("finishing the renewal begun at " + t.Format(time.RFC3339))
		}
	}
	if err := state.WriteFileAtomic(path, []byte(since.Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return err
	}
	if err := c.renewCertificates(ctx, since); err != nil {
		return err
	}
	return os.Remove(path)
}

func (c *Client) renewCertificates(ctx context.Context, since time.Time) error {
	control, err := c.Control(ctx)
	if err != nil {
		return err
	}
	value := since.UTC().Format(time.RFC3339)
	for _, m := range c.cluster.Masters() {
		log := c.log.ForHost(m.Name)
		start := time.Now()
		have, err := c.masterCertificates(ctx, m)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		if first, ok := have.Earliest(); ok && first.Expires.After(since.Add(renewedValidity-time.Hour)) {
			log.Info("certificates renewed already, by this renewal (started " + value + ")")
		} else {
			if _, err := c.exec(ctx, m.Name, ssh.Command{Name: "renew certificates",
				Script: Frame(m, Own, "20s", scripts.Render("controlplane/certs-renew", nil)).String()}, true); err != nil {
				return fmt.Errorf("%s: kubeadm certs renew all: %w", m.Name, err)
			}
		}
		for _, pod := range controlPlanePods {
			if pod == "etcd" && c.cluster.Spec.Etcd.Topology == inventory.EtcdExternal {
				continue // its certificates are its operator's
			}
			body := scripts.Render("controlplane/restart-static-pod", struct {
				Dir, Component, Node, Value string
				Secs                        int
			}{manifestsDir, pod, m.Name, value, 300})
			// Through the endpoint: this master's own apiserver is what
			// restarts.
			if _, err := c.exec(ctx, m.Name, ssh.Command{Name: "restart " + pod, Script: Frame(m, Endpoint, "5s", body).String()}, true); err != nil {
				return fmt.Errorf("%s: restart %s: %w", m.Name, pod, err)
			}
			switch pod {
			case "etcd":
				if err := c.WaitEtcd(ctx, m, 180); err != nil {
					return fmt.Errorf("%s: after etcd's restart: %w", m.Name, err)
				}
			case "kube-apiserver":
				if err := c.WaitReady(ctx, m, 180); err != nil {
					return fmt.Errorf("%s: after the apiserver's restart: %w", m.Name, err)
				}
			}
		}
		log.Info(fmt.Sprintf("certificates renewed and the control plane restarted in %s", time.Since(start).Round(100*time.Millisecond)))
	}
	return c.SaveAdminKubeconfig(ctx, control)
}

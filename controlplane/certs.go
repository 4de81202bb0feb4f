package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
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

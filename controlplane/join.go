package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// Lifetimes of join credentials. kubeadm deletes uploaded certificates
// after 2 h; kubeha uploads them again well before, so a join late in a
// long run (or hours after init) never meets an expired key.
const (
	TokenTTL      = 2 * time.Hour
	tokenMinLeft  = 20 * time.Minute
	CertsTTL      = 2 * time.Hour
	certsReupload = time.Hour + 45*time.Minute
)

// joinMaterial holds the join credentials of one run. They are created on
// demand on the control host, never read from an old run or scraped from
// kubeadm's output.
type joinMaterial struct {
	mu            sync.Mutex
	token         string
	tokenExpires  time.Time
	certKey       string
	certsUploaded time.Time
	caHash        string
	// now is the clock, for tests; nil means time.Now.
	now func() time.Time
}

// RecordInit stores the credentials kubeadm init was given.
func (c *Client) RecordInit(s kubeadm.Secrets) {
	j := &c.join
	j.mu.Lock()
	defer j.mu.Unlock()
	now := c.clock()
	j.token, j.tokenExpires = s.Token, now.Add(TokenTTL)
	j.certKey, j.certsUploaded = s.CertificateKey, now
}

// NewToken returns a bootstrap token in kubeadm's format.
func NewToken() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	pick := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
			b[i] = chars[k.Int64()]
		}
		return string(b)
	}
	return pick(6) + "." + pick(16)
}

// NewCertificateKey returns a kubeadm certificate key: 32 random bytes, hex.
func NewCertificateKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// InitSecrets returns new credentials for kubeadm init, registered as
// secrets.
func (c *Client) InitSecrets() kubeadm.Secrets {
	s := kubeadm.Secrets{Token: NewToken(), CertificateKey: NewCertificateKey()}
	c.secrets.Add(s.Token, s.CertificateKey)
	return s
}

// JoinSecrets gathers everything a join config needs: a bootstrap token
// with time left, the CA's discovery hash, and for a master a certificate
// key whose certificates are uploaded.
func (c *Client) JoinSecrets(ctx context.Context, controlPlane bool) (kubeadm.Secrets, error) {
	var s kubeadm.Secrets
	var err error
	if s.Token, err = c.token(ctx); err != nil {
		return s, err
	}
	if s.CACertHash, err = c.caCertHash(ctx); err != nil {
		return s, err
	}
	if controlPlane {
		if s.CertificateKey, err = c.certificateKey(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

// token returns a bootstrap token with at least 20 minutes left, creating
// one on the control host when needed.
func (c *Client) token(ctx context.Context) (string, error) {
	j := &c.join
	j.mu.Lock()
	defer j.mu.Unlock()
	cp, err := c.Control(ctx)
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(j.token, ".")
	if c.stillThere(ctx, cp, j.token != "" && j.tokenExpires.Sub(c.clock()) > tokenMinLeft,
		"bootstrap-token-"+id, "the bootstrap token is gone: creating a new one") {
		return j.token, nil
	}
	tok := NewToken()
	if err := c.make(ctx, cp, kubeadm.Secrets{Token: tok}, "create a bootstrap token", "kubeadm token create --config"); err != nil {
		return "", err
	}
	c.log.ForHost(cp.Name).Info("created a bootstrap token valid for " + TokenTTL.String())
	j.token, j.tokenExpires = tok, c.clock().Add(TokenTTL)
	return tok, nil
}

// certificateKey returns a certificate key whose certificates were
// uploaded less than 1 h 45 m ago, uploading them again under a new key
// otherwise.
func (c *Client) certificateKey(ctx context.Context) (string, error) {
	j := &c.join
	j.mu.Lock()
	defer j.mu.Unlock()
	cp, err := c.Control(ctx)
	if err != nil {
		return "", err
	}
	if c.stillThere(ctx, cp, j.certKey != "" && c.clock().Sub(j.certsUploaded) < certsReupload,
		"kubeadm-certs", "the kubeadm-certs Secret is gone: uploading the certificates again") {
		return j.certKey, nil
	}
	key := NewCertificateKey()
	if err := c.make(ctx, cp, kubeadm.Secrets{CertificateKey: key}, "upload control-plane certificates",
		"kubeadm init phase upload-certs --upload-certs --config"); err != nil {
		return "", err
	}
	c.log.ForHost(cp.Name).Info("uploaded control-plane certificates under a new key (kubeadm keeps them 2h)")
	j.certKey, j.certsUploaded = key, c.clock()
	return key, nil
}

// stillThere reports whether a credential that young says may still serve
// also still exists on the cluster as the kube-system Secret secret:
// deleted by hand, by the token cleaner or by kubeadm's own TTL, a join
// with it would fail, and only after a timeout. It warns gone when not.
func (c *Client) stillThere(ctx context.Context, cp inventory.Host, young bool, secret, gone string) bool {
	if !young {
		return false
	}
	if c.secretExists(ctx, cp, secret) {
		return true
	}
	c.log.ForHost(cp.Name).Warn(gone)
	return false
}

// make registers the new credential in s as a secret, then has kubeadm
// create it on the cluster with command (kubeha's own words, split at
// spaces) through credentialsCommand.
func (c *Client) make(ctx context.Context, cp inventory.Host, s kubeadm.Secrets, name, command string) error {
	c.secrets.Add(s.Token, s.CertificateKey)
	return c.credentialsCommand(ctx, cp, s, name, strings.Fields(command)...)
}

// CredentialsPath holds a join credential for the one kubeadm command that
// creates it on the cluster. Credentials travel in this 0600 file, never on
// a command line: argv is in every host's process list (and sudo's log),
// and a token with a certificate key fetches the cluster's CA keys.
const CredentialsPath = kubeadm.ConfigDir + "/kubeadm-credentials.yaml"

// credentialsCommand gives s to kubeadm on cp as kubeadm config (the
// cluster's own ClusterConfiguration with it, so upload-certs uploads what
// this cluster has): the config travels on stdin into CredentialsPath, and
// `<command...> CredentialsPath` runs against cp's own apiserver.
func (c *Client) credentialsCommand(ctx context.Context, cp inventory.Host, s kubeadm.Secrets, name string, command ...string) error {
	cfg, err := kubeadm.CredentialsConfig(c.cluster, cp, s)
	if err != nil {
		return err
	}
	body := scripts.Render("controlplane/credentials", struct {
		Dir, Path string
		Command   []string
	}{kubeadm.ConfigDir, CredentialsPath, command})
	_, err = c.exec(ctx, cp.Name, ssh.Command{Name: name, Script: c.frame(cp, Own, "20s", body).String(),
		Stdin: strings.NewReader(string(cfg)), Secrets: []string{s.Token, s.CertificateKey}}, true)
	return err
}

// caCertHash returns sha256:<hex> of the cluster CA's public key, computed
// from the CA certificate itself.
func (c *Client) caCertHash(ctx context.Context) (string, error) {
	j := &c.join
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.caHash != "" {
		return j.caHash, nil
	}
	cp, err := c.Control(ctx)
	if err != nil {
		return "", err
	}
	pemBytes, err := c.hosts.Download(ctx, cp.Name, "/etc/kubernetes/pki/ca.crt")
	if err != nil {
		return "", err
	}
	h, err := CAHash(pemBytes)
	if err != nil {
		return "", fmt.Errorf("%s: /etc/kubernetes/pki/ca.crt: %w", cp.Name, err)
	}
	j.caHash = h
	return h, nil
}

// CAHash is kubeadm's discovery hash of a PEM CA certificate.
func CAHash(pemBytes []byte) (string, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return "", errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// UploadCertsTokenDescription is what kubeadm calls the token it makes with
// every certificate upload, to own the kubeadm-certs Secret (it goes when
// the token expires). kubeha deletes that Secret at the end of each run, so
// the token has nothing left to do.
const UploadCertsTokenDescription = "Proxy for managing TTL for the kubeadm-certs secret"

// Revoke deletes the bootstrap tokens kubeha made and the uploaded
// control-plane certificates, when this run made or was handed any, so
// none outlives the run that needed it. It is best effort: a failure is a
// warning (kubeadm's own TTL of 2 h still ends them), never the run's error.
func (c *Client) Revoke(ctx context.Context) {
	j := &c.join
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.token == "" && j.certKey == "" {
		return
	}
	c.log.Info("deleting this run's join credentials")
	cp, err := c.Control(ctx)
	if err != nil {
		c.log.Warn("could not delete this run's join credentials (kubeadm's 2 h TTL still ends them): " + err.Error())
		return
	}
	body := scripts.Render("controlplane/revoke", struct{ Ours, UploadCerts string }{
		base64.StdEncoding.EncodeToString([]byte(kubeadm.TokenDescription)),
		base64.StdEncoding.EncodeToString([]byte(UploadCertsTokenDescription))})
	if _, err := c.exec(ctx, cp.Name, ssh.Command{Name: "delete this run's join credentials", Script: c.frame(cp, Own, "10s", body).String()}, true); err != nil {
		c.log.ForHost(cp.Name).Warn("could not delete this run's join credentials (kubeadm's 2 h TTL still ends them): " + err.Error())
		return
	}
	c.log.ForHost(cp.Name).Info("deleted this run's join credentials")
	j.token, j.tokenExpires, j.certKey, j.certsUploaded = "", time.Time{}, "", time.Time{}
}

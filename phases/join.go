package phases

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
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/ssh"
)

// Lifetimes of join credentials. kubeadm deletes uploaded certificates
// after 2 h; kubeha re-uploads well before, so a join late in a long run
// (or hours after init) never meets an expired key.
const (
	TokenTTL      = 2 * time.Hour
	tokenMinLeft  = 20 * time.Minute
	CertsTTL      = 2 * time.Hour
	certsReupload = time.Hour + 45*time.Minute
)

// JoinMaterial holds the join credentials of one run. They are created on
// demand on a control-plane host, never read from an old run or scraped
// from kubeadm's output. Safe for concurrent use.
type JoinMaterial struct {
	mu            sync.Mutex
	token         string
	tokenExpires  time.Time
	certKey       string
	certsUploaded time.Time
	caHash        string
	// now is the clock, for tests; nil means time.Now.
	now func() time.Time
}

func (j *JoinMaterial) clock() time.Time {
	if j.now != nil {
		return j.now()
	}
	return time.Now()
}

// recordInit stores what kubeadm init was given.
func (j *JoinMaterial) recordInit(token, key string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.clock()
	j.token, j.tokenExpires = token, now.Add(TokenTTL)
	j.certKey, j.certsUploaded = key, now
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

// localAdmin is a script prefix that puts in $kc an admin kubeconfig aimed
// at cp's own apiserver (its address is in the serving certificate),
// removed when the script ends. kubeha's control commands must not depend
// on the endpoint: just after init, with the load balancer in static pods,
// going through it cost 12.8 s before the first join (measured).
//
// The server URL reaches awk through its environment, never through its
// program, so no character of the address can change what awk runs (a
// value in a sed or awk program, or in awk -v, is parsed or unescaped).
// YAML indents with spaces, so [ \t] is all the [[:space:]] of kubeha's
// former sed that a kubeconfig can hold, and every awk knows it.
func localAdmin(cp inventory.Host) string {
	server := "https://" + net.JoinHostPort(cp.InternalAddress, strconv.Itoa(inventory.APIServerPort))
	return `kc=$(mktemp); trap 'rm -f "$kc"' EXIT
server=` + ssh.Quote(server) + ` awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
`
}

// secretExistsScript exits 0 when the kube-system Secret named secret
// exists, asking cp's own apiserver.
func secretExistsScript(cp inventory.Host, secret string) string {
	return localAdmin(cp) + "kubectl --kubeconfig \"$kc\" -n kube-system get secret " + ssh.Quote(secret) + " >/dev/null 2>&1"
}

// controlHost is a finished control-plane node, where kubeadm commands
// that talk to the cluster run.
func controlHost(ctx context.Context, env *Env) (inventory.Host, error) {
	for _, m := range env.Cluster.Masters() {
		f, err := env.Shared.Facts.Get(ctx, env, m.Name, false)
		if err == nil && f.ControlPlaneDone && f.AdminConf {
			return m, nil
		}
	}
	return inventory.Host{}, errors.New("no master is a finished control-plane node yet: run the kubeadm-init phase first")
}

// Token returns a bootstrap token with at least 20 minutes left, creating
// one on a control-plane host when needed.
func (j *JoinMaterial) Token(ctx context.Context, env *Env) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	cp, err := controlHost(ctx, env)
	if err != nil {
		return "", err
	}
	if j.token != "" && j.tokenExpires.Sub(j.clock()) > tokenMinLeft {
		// Time left, but only if it still exists: deleted by hand or by
		// the token cleaner, a join with it fails only after a timeout.
		id, _, _ := strings.Cut(j.token, ".")
		if _, err := env.Hosts.Run(ctx, cp.Name, ssh.Command{Name: "check the bootstrap token",
			Script: secretExistsScript(cp, "bootstrap-token-"+id)}); err == nil {
			return j.token, nil
		}
		env.Log.ForHost(cp.Name).Warn("the bootstrap token is gone: creating a new one")
	}
	tok := NewToken()
	env.Secrets.Add(tok)
	if err := credentialsCommand(ctx, env, cp, kubeadm.Secrets{Token: tok}, "create a bootstrap token", "kubeadm token create --config"); err != nil {
		return "", err
	}
	env.Log.ForHost(cp.Name).Info("created a bootstrap token valid for " + TokenTTL.String())
	j.token, j.tokenExpires = tok, j.clock().Add(TokenTTL)
	return tok, nil
}

// CertificateKey returns a certificate key whose certificates were uploaded
// less than 1 h 45 m ago, uploading them again under a new key otherwise.
func (j *JoinMaterial) CertificateKey(ctx context.Context, env *Env) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	cp, err := controlHost(ctx, env)
	if err != nil {
		return "", err
	}
	if j.certKey != "" && j.clock().Sub(j.certsUploaded) < certsReupload {
		// Young enough, but only if the Secret is still there: deleted by
		// hand or by kubeadm's own TTL, a join with this key would fail.
		if _, err := env.Hosts.Run(ctx, cp.Name, ssh.Command{Name: "check uploaded certificates",
			Script: secretExistsScript(cp, "kubeadm-certs")}); err == nil {
			return j.certKey, nil
		}
		env.Log.ForHost(cp.Name).Warn("the kubeadm-certs Secret is gone: uploading the certificates again")
	}
	key := NewCertificateKey()
	env.Secrets.Add(key)
	if err := credentialsCommand(ctx, env, cp, kubeadm.Secrets{CertificateKey: key}, "upload control-plane certificates", "kubeadm init phase upload-certs --upload-certs --config"); err != nil {
		return "", err
	}
	env.Log.ForHost(cp.Name).Info("uploaded control-plane certificates under a new key (kubeadm keeps them 2h)")
	j.certKey, j.certsUploaded = key, j.clock()
	return key, nil
}

// joinCredentialsID names, in events, the deletion of join credentials at
// the end of a run.
const joinCredentialsID = "join-credentials"

// revokeScript deletes every bootstrap token kubeha made (its Secret's
// description is TokenDescription: a run killed before it could clean up
// leaves its tokens to the next run's end), the uploaded certificates, and
// the tokens kubeadm made to own them.
// Tokens are chosen by their Secret's name and description, so no token's
// secret half is ever on a command line.
var revokeScript = fmt.Sprintf(`k() { kubectl --kubeconfig "$kc" --request-timeout 10s -n kube-system "$@"; }
tokens=$(k get secrets --field-selector type=bootstrap.kubernetes.io/token -o jsonpath='{range .items[*]}{.metadata.name} {.data.description}{"\n"}{end}') || exit 1
printf '%%s\n' "$tokens" | while read -r name desc; do
  case "$desc" in %s|%s) k delete secret --ignore-not-found "$name" >/dev/null || exit 1 ;; esac
done || exit 1
k delete secret --ignore-not-found kubeadm-certs >/dev/null
`, base64.StdEncoding.EncodeToString([]byte(kubeadm.TokenDescription)), base64.StdEncoding.EncodeToString([]byte(uploadCertsTokenDescription)))

// uploadCertsTokenDescription is what kubeadm calls the token it makes with
// every certificate upload, to own the kubeadm-certs Secret (it goes when
// the token expires). kubeha deletes that Secret at the end of each run, so
// the token has nothing left to do.
const uploadCertsTokenDescription = "Proxy for managing TTL for the kubeadm-certs secret"

// Revoke deletes the bootstrap tokens kubeha made and the uploaded
// control-plane certificates, when this run made or was handed any, so
// none outlives the run that needed it. It is best effort: a failure is a
// warning (kubeadm's own TTL of 2 h still ends them), never the run's error.
func (j *JoinMaterial) Revoke(ctx context.Context, env *Env) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.token == "" && j.certKey == "" {
		return
	}
	env.Log.Info("deleting this run's join credentials")
	cp, err := controlHost(ctx, env)
	if err != nil {
		env.Log.Warn("could not delete this run's join credentials (kubeadm's 2 h TTL still ends them): " + err.Error())
		return
	}
	if _, err := env.Hosts.Run(ctx, cp.Name, ssh.Command{Name: "delete this run's join credentials", Script: localAdmin(cp) + revokeScript}); err != nil {
		env.Log.ForHost(cp.Name).Warn("could not delete this run's join credentials (kubeadm's 2 h TTL still ends them): " + err.Error())
		return
	}
	env.Log.ForHost(cp.Name).Info("deleted this run's join credentials")
	j.token, j.tokenExpires, j.certKey, j.certsUploaded = "", time.Time{}, "", time.Time{}
}

// credentialsPath holds a join credential for the one kubeadm command that
// creates it on the cluster. Credentials travel in this 0600 file, never on
// a command line: argv is in every host's process list (and sudo's log),
// and a token with a certificate key fetches the cluster's CA keys.
const credentialsPath = kubeadm.ConfigDir + "/kubeadm-credentials.yaml"

// credentialsCommand writes s into credentialsPath on cp as kubeadm config
// (the cluster's own ClusterConfiguration with it, so upload-certs uploads
// what this cluster has), runs `<kubeadmCmd> credentialsPath` against cp's
// own apiserver, and removes the file whatever happens.
func credentialsCommand(ctx context.Context, env *Env, cp inventory.Host, s kubeadm.Secrets, name, kubeadmCmd string) error {
	cfg, err := kubeadm.CredentialsConfig(env.Cluster, cp, s)
	if err != nil {
		return err
	}
	if _, err := env.putFiles(ctx, cp.Name, []fileSpec{{Path: credentialsPath, Mode: 0o600, Content: cfg, Secret: true}}); err != nil {
		return err
	}
	_, err = env.Hosts.Run(ctx, cp.Name, sshCommand(name, credentialsScript(cp, kubeadmCmd), s.Token, s.CertificateKey))
	return err
}

// credentialsScript runs `<kubeadmCmd> credentialsPath` against cp's own
// apiserver and removes credentialsPath whatever happens. kubeadmCmd is
// kubeha's own command line, never an inventory value.
func credentialsScript(cp inventory.Host, kubeadmCmd string) string {
	return localAdmin(cp) +
		fmt.Sprintf("trap 'rm -f \"$kc\" %[1]s' EXIT\n%[2]s %[1]s --kubeconfig \"$kc\" >/dev/null", credentialsPath, kubeadmCmd)
}

// CACertHash returns sha256:<hex> of the cluster CA's public key, computed
// from the CA certificate itself.
func (j *JoinMaterial) CACertHash(ctx context.Context, env *Env) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.caHash != "" {
		return j.caHash, nil
	}
	cp, err := controlHost(ctx, env)
	if err != nil {
		return "", err
	}
	pemBytes, err := env.Hosts.Download(ctx, cp.Name, "/etc/kubernetes/pki/ca.crt")
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

// joinSecrets gathers everything a join config needs.
func joinSecrets(ctx context.Context, env *Env, controlPlane bool) (kubeadm.Secrets, error) {
	var s kubeadm.Secrets
	var err error
	if s.Token, err = env.Shared.Join.Token(ctx, env); err != nil {
		return s, err
	}
	if s.CACertHash, err = env.Shared.Join.CACertHash(ctx, env); err != nil {
		return s, err
	}
	if controlPlane {
		if s.CertificateKey, err = env.Shared.Join.CertificateKey(ctx, env); err != nil {
			return s, err
		}
	}
	return s, nil
}

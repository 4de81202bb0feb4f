package ssh

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyPolicy says what to do with a host key that known_hosts lacks.
type HostKeyPolicy int

const (
	// HostKeyStrict refuses unknown and changed keys (the default).
	HostKeyStrict HostKeyPolicy = iota
	// HostKeyAcceptNew records unknown keys in known_hosts, like OpenSSH's
	// StrictHostKeyChecking=accept-new, and still refuses changed keys.
	HostKeyAcceptNew
	// HostKeyInsecureIgnore checks nothing. Only an explicit flag selects
	// it, and the command warns on every run.
	HostKeyInsecureIgnore
)

// UnknownHostKeyError is a host whose key is not in known_hosts.
type UnknownHostKeyError struct {
	Host        string
	Address     string
	KeyType     string
	Fingerprint string
	KnownHosts  string
}

func (e *UnknownHostKeyError) Error() string {
	return fmt.Sprintf("%s (%s): %s host key %s is not in %s; check the fingerprint on the host (ssh-keygen -lf %s), then rerun with --accept-new-host-keys to record it",
		e.Host, e.Address, e.KeyType, e.Fingerprint, e.KnownHosts, hostKeyFile(e.KeyType))
}

// ChangedHostKeyError is a host whose key differs from the one recorded. It
// is never accepted automatically: it is what a man in the middle looks like.
type ChangedHostKeyError struct {
	Host, Address  string
	Fingerprint    string // offered now
	Known          string // recorded
	KnownHostsFile string
	Line           int
}

func (e *ChangedHostKeyError) Error() string {
	return fmt.Sprintf("%s (%s): HOST KEY CHANGED: offered %s, %s:%d records %s; if the host was reinstalled, remove that line (ssh-keygen -R %s -f %s) and connect again; otherwise someone may be intercepting the connection",
		e.Host, e.Address, e.Fingerprint, e.KnownHostsFile, e.Line, e.Known, knownhosts.Normalize(e.Address), e.KnownHostsFile)
}

// HostCertificateError is a host that known_hosts trusts through a
// certificate authority (an @cert-authority line) and that did not prove
// itself with a valid certificate from it: no certificate, one from another
// CA, expired, or issued for other names. It is never accepted
// automatically, not even with accept-new.
type HostCertificateError struct {
	Host, Address string
	// Reason says what is wrong with the certificate, Fix what to do.
	Reason, Fix string
	// KnownHostsFile and Line locate the @cert-authority line for the host.
	KnownHostsFile string
	Line           int
}

func (e *HostCertificateError) Error() string {
	return fmt.Sprintf("%s (%s): host certificate refused: %s (%s:%d trusts a certificate authority for this host); %s",
		e.Host, e.Address, e.Reason, e.KnownHostsFile, e.Line, e.Fix)
}

// RevokedHostKeyError is a host whose key, or the CA that signed its
// certificate, is marked @revoked in known_hosts. It is always refused.
type RevokedHostKeyError struct {
	Host, Address string
	// Fingerprint is the revoked key: the host's own, or its CA's when CA
	// is true.
	Fingerprint    string
	CA             bool
	KnownHostsFile string
	Line           int
}

func (e *RevokedHostKeyError) Error() string {
	if e.CA {
		return fmt.Sprintf("%s (%s): its certificate is signed by CA %s, which is marked @revoked at %s:%d; kubeha will not connect: sign the host key with a CA you trust and list that CA with @cert-authority",
			e.Host, e.Address, e.Fingerprint, e.KnownHostsFile, e.Line)
	}
	return fmt.Sprintf("%s (%s): host key %s is marked @revoked at %s:%d; kubeha will not connect: give the host a new key (and certificate) and record that",
		e.Host, e.Address, e.Fingerprint, e.KnownHostsFile, e.Line)
}

// KnownHosts checks host keys against one known_hosts file, with a policy
// for keys it lacks. Create one per run with NewKnownHosts and share it
// between Configs: the file is read afresh for every handshake, and
// accept-new appends are serialised with those reads.
//
// It understands the file as OpenSSH does: plain lines (hashed or not, with
// patterns), @cert-authority lines whose CA vouches for host certificates,
// and @revoked lines that refuse a key even where another line lists it.
type KnownHosts struct {
	path   string
	policy HostKeyPolicy
	mu     sync.Mutex
}

// NewKnownHosts returns a checker for the known_hosts file at path.
func NewKnownHosts(path string, policy HostKeyPolicy) *KnownHosts {
	return &KnownHosts{path: path, policy: policy}
}

// hostKeyDB is one reading of the known_hosts file. x/crypto's knownhosts
// does the matching (patterns, negation, hashed names, @revoked); what it
// does not tell is which of the lines matching a host are @cert-authority
// lines, so the file's markers are read here by line number.
type hostKeyDB struct {
	path  string
	check xssh.HostKeyCallback
	ca    map[int]bool // line numbers of @cert-authority lines
}

// read loads the file; the caller holds k.mu.
func (k *KnownHosts) read() (*hostKeyDB, error) {
	db := &hostKeyDB{path: k.path, ca: map[int]bool{}}
	data, err := os.ReadFile(k.path)
	if errors.Is(err, os.ErrNotExist) {
		// No file yet: every key is unknown; accept-new creates it.
		db.check = func(string, net.Addr, xssh.PublicKey) error { return &knownhosts.KeyError{} }
		return db, nil
	}
	if err != nil {
		return nil, err
	}
	if db.check, err = knownhosts.New(k.path); err != nil {
		return nil, err
	}
	// Line numbers as knownhosts counts them: every line, from 1.
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == "@cert-authority" {
			db.ca[n] = true
		}
	}
	return db, nil
}

// entries returns the lines that match addr (host:port): plain keys and
// certificate authorities.
func (db *hostKeyDB) entries(addr string) (keys, cas []knownhosts.KnownKey) {
	// A key no line can hold makes knownhosts list every line that
	// matches the address.
	var ke *knownhosts.KeyError
	if err := db.check(addr, fakeAddr(addr), probeKey{}); !errors.As(err, &ke) {
		return nil, nil
	}
	for _, w := range ke.Want {
		if db.ca[w.Line] {
			cas = append(cas, w)
		} else {
			keys = append(keys, w)
		}
	}
	return keys, cas
}

// revoked returns the @revoked line for key, nil when there is none.
func (db *hostKeyDB) revoked(addr string, key xssh.PublicKey) *knownhosts.KnownKey {
	var re *knownhosts.RevokedError
	if errors.As(db.check(addr, fakeAddr(addr), key), &re) {
		return &re.Revoked
	}
	return nil
}

// DefaultHostKeyAlgorithms is the order in which a host that known_hosts
// does not know is asked for its key: OpenSSH's order, so that kubeha sees
// (and accept-new records) the key that ssh would, the one an operator
// checks first (ssh_host_ed25519_key). Certificates are not asked for: with
// no @cert-authority line for the host nothing could vouch for them.
// ssh-rsa (SHA-1) comes last, for hosts too old for anything else.
func DefaultHostKeyAlgorithms() []string {
	return []string{
		xssh.KeyAlgoED25519,
		xssh.KeyAlgoECDSA256, xssh.KeyAlgoECDSA384, xssh.KeyAlgoECDSA521,
		xssh.KeyAlgoRSASHA512, xssh.KeyAlgoRSASHA256,
		xssh.KeyAlgoRSA,
	}
}

// certAlgorithms are the host certificate types, in OpenSSH's order.
var certAlgorithms = []string{
	xssh.CertAlgoED25519v01,
	xssh.CertAlgoECDSA256v01, xssh.CertAlgoECDSA384v01, xssh.CertAlgoECDSA521v01,
	xssh.CertAlgoRSASHA512v01, xssh.CertAlgoRSASHA256v01,
}

// algorithms returns the host key algorithms to offer when dialling addr,
// so that the server presents a key known_hosts can check, as OpenSSH's
// order_hostkeyalgs does: every certificate type when an @cert-authority
// line matches the host, then the types of the plain keys recorded for it.
// Only the recorded types are offered: a server that has none of them fails
// the handshake rather than presenting some other key that would look
// changed (golang/go#29286). A host with only @cert-authority lines is
// offered plain types after the certificates, so that one without a
// certificate is refused with a HostCertificateError that says so, not a
// failed handshake. A host known_hosts lacks gets DefaultHostKeyAlgorithms.
func (k *KnownHosts) algorithms(addr string) []string {
	if k.policy == HostKeyInsecureIgnore {
		return nil
	}
	k.mu.Lock()
	db, err := k.read()
	k.mu.Unlock()
	if err != nil {
		// The callback reports the unreadable file.
		return nil
	}
	keys, cas := db.entries(addr)
	var algs []string
	if len(cas) > 0 {
		algs = append(algs, certAlgorithms...)
	}
	if len(keys) == 0 {
		return append(algs, DefaultHostKeyAlgorithms()...)
	}
	for _, w := range keys {
		for _, a := range algorithmsFor(w.Key.Type()) {
			if !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
	}
	return algs
}

func algorithmsFor(keyType string) []string {
	if keyType == xssh.KeyAlgoRSA {
		return []string{xssh.KeyAlgoRSASHA512, xssh.KeyAlgoRSASHA256, xssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// callback returns the HostKeyCallback for host (the inventory name, for
// messages). The address it is called with is the one dialled, host:port;
// its host part is the name a certificate must list. hash records
// accept-new entries hashed (ssh_config HashKnownHosts).
func (k *KnownHosts) callback(host string, hash bool) xssh.HostKeyCallback {
	if k.policy == HostKeyInsecureIgnore {
		return xssh.InsecureIgnoreHostKey()
	}
	return func(addr string, _ net.Addr, key xssh.PublicKey) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		db, err := k.read()
		if err != nil {
			return fmt.Errorf("read known hosts %s: %w", k.path, err)
		}
		return k.verify(db, host, addr, key, hash, k.policy == HostKeyAcceptNew)
	}
}

// verify decides on key, the one the server presented and proved it holds
// in the handshake, following OpenSSH's check_host_key. A key known_hosts
// has no line for is recorded when acceptNew is set, refused otherwise. The
// caller holds k.mu.
func (k *KnownHosts) verify(db *hostKeyDB, host, addr string, key xssh.PublicKey, hash, acceptNew bool) error {
	plain := key
	cert, isCert := key.(*xssh.Certificate)
	if isCert {
		plain = cert.Key
	}
	if r := db.revoked(addr, plain); r != nil {
		return &RevokedHostKeyError{Host: host, Address: addr, Fingerprint: xssh.FingerprintSHA256(plain), KnownHostsFile: r.Filename, Line: r.Line}
	}
	keys, cas := db.entries(addr)
	listed := func(pk xssh.PublicKey) bool {
		for _, w := range keys {
			if bytes.Equal(w.Key.Marshal(), pk.Marshal()) {
				return true
			}
		}
		return false
	}
	if isCert && len(cas) > 0 {
		if r := db.revoked(addr, cert.SignatureKey); r != nil {
			return &RevokedHostKeyError{Host: host, Address: addr, Fingerprint: xssh.FingerprintSHA256(cert.SignatureKey), CA: true, KnownHostsFile: r.Filename, Line: r.Line}
		}
		certErr := checkHostCert(host, addr, cert, cas)
		// Like OpenSSH, a certificate that does not pass still lets in a
		// host whose key is recorded on a plain line of its own.
		if certErr == nil || listed(plain) {
			return nil
		}
		return certErr
	}
	// A certificate with no CA to check it against counts as its plain
	// key, as in OpenSSH.
	if listed(plain) {
		return nil
	}
	fp := xssh.FingerprintSHA256(plain)
	if len(keys) > 0 {
		// Name the recorded key of the presented type, if there is one.
		w := keys[0]
		for _, e := range keys {
			if e.Key.Type() == plain.Type() {
				w = e
				break
			}
		}
		return &ChangedHostKeyError{Host: host, Address: addr, Fingerprint: fp, Known: xssh.FingerprintSHA256(w.Key), KnownHostsFile: w.Filename, Line: w.Line}
	}
	if len(cas) > 0 {
		return &HostCertificateError{Host: host, Address: addr, KnownHostsFile: cas[0].Filename, Line: cas[0].Line,
			Reason: fmt.Sprintf("it presented the plain %s key %s, not a certificate", plain.Type(), fp),
			Fix:    "give the host a certificate from that CA (ssh-keygen -s <ca> -h, HostCertificate in sshd_config); if it is not meant to have one, narrow the @cert-authority pattern and record its key after checking the fingerprint"}
	}
	if !acceptNew {
		return &UnknownHostKeyError{Host: host, Address: addr, KeyType: plain.Type(), Fingerprint: fp, KnownHosts: k.path}
	}
	return k.append(addr, plain, hash)
}

// checkHostCert checks cert as OpenSSH's sshkey_cert_check_host does: a
// host certificate, signed by a CA of one of the @cert-authority lines
// matching the host, valid now, listing the dialled name, without critical
// options, and with a good signature.
func checkHostCert(host, addr string, cert *xssh.Certificate, cas []knownhosts.KnownKey) error {
	fail := func(line knownhosts.KnownKey, reason, fix string) error {
		return &HostCertificateError{Host: host, Address: addr, Reason: reason, Fix: fix, KnownHostsFile: line.Filename, Line: line.Line}
	}
	ca := cas[0]
	trusted := false
	for _, c := range cas {
		if bytes.Equal(c.Key.Marshal(), cert.SignatureKey.Marshal()) {
			ca, trusted = c, true
			break
		}
	}
	caFP := xssh.FingerprintSHA256(cert.SignatureKey)
	if !trusted {
		return fail(ca, fmt.Sprintf("its certificate is signed by CA %s, which is not trusted for this host (the CA trusted is %s)", caFP, xssh.FingerprintSHA256(ca.Key)),
			"if "+caFP+" is your CA, add it to known_hosts (@cert-authority <pattern> <CA public key>); otherwise someone may be intercepting the connection")
	}
	if cert.CertType != xssh.HostCert {
		return fail(ca, "it presented a user certificate as its host key", "sign the host key as a host certificate (ssh-keygen -s <ca> -h)")
	}
	now := time.Now()
	clock := fmt.Sprintf("check this machine's clock (now %s)", now.UTC().Format(time.RFC3339))
	if after := int64(cert.ValidAfter); after < 0 || now.Unix() < after {
		return fail(ca, "its certificate is not valid before "+certTime(cert.ValidAfter), clock+" and the -V the certificate was issued with")
	}
	if cert.ValidBefore != xssh.CertTimeInfinity {
		if before := int64(cert.ValidBefore); before < 0 || now.Unix() >= before {
			return fail(ca, "its certificate expired at "+certTime(cert.ValidBefore),
				"renew it on the CA (ssh-keygen -s <ca> -I <id> -h -n <names> <host key>.pub) and install it on the host (HostCertificate in sshd_config), or "+clock)
		}
	}
	name, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	// OpenSSH compares the lower-cased host name with each principal,
	// exactly: a wildcard in a host certificate matches only itself.
	name = strings.ToLower(name)
	if len(cert.ValidPrincipals) == 0 {
		return fail(ca, "its certificate lists no names (principals)", fmt.Sprintf("reissue it with -n listing %s", name))
	}
	if !slices.Contains(cert.ValidPrincipals, name) {
		return fail(ca, fmt.Sprintf("its certificate is for %q, not for %q", cert.ValidPrincipals, name),
			fmt.Sprintf("reissue it with -n listing %s, or put in the inventory a name the certificate lists", name))
	}
	if cert.Signature != nil && cert.Signature.Format == xssh.KeyAlgoRSA {
		return fail(ca, "its certificate is signed with SHA-1 (ssh-rsa), which OpenSSH refuses too", "re-sign it with ssh-keygen -t rsa-sha2-512")
	}
	// CheckCert adds what is left: critical options (a host certificate
	// may have none) and the CA's signature.
	if err := (&xssh.CertChecker{}).CheckCert(name, cert); err != nil {
		return fail(ca, "its certificate does not verify: "+strings.TrimPrefix(err.Error(), "ssh: "), "reissue the certificate")
	}
	return nil
}

func certTime(t uint64) string {
	return time.Unix(int64(t), 0).UTC().Format(time.RFC3339)
}

// hostKeyFile is where a host keeps its key of keyType, for the fingerprint
// check an operator makes before accepting it.
func hostKeyFile(keyType string) string {
	name := "ed25519"
	switch {
	case strings.HasPrefix(keyType, "ecdsa-"):
		name = "ecdsa"
	case strings.HasPrefix(keyType, "ssh-rsa"), strings.HasPrefix(keyType, "rsa-"):
		name = "rsa"
	}
	return "/etc/ssh/ssh_host_" + name + "_key.pub"
}

// append records key for addr, hashing the name when hash is set (as
// OpenSSH does with HashKnownHosts yes). It is the one writer of known_hosts:
// accept-new and Record both end here. The line goes out in one write to a
// file opened for appending, as OpenSSH adds its lines, so it does not
// interleave with another process appending (ssh itself, another kubeha);
// readers in this process hold the same lock. The file keeps its inode, so
// a symlinked known_hosts stays one. The caller holds k.mu.
func (k *KnownHosts) append(addr string, key xssh.PublicKey, hash bool) error {
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(k.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(knownHostsLine(addr, key, hash) + "\n"); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	return f.Sync()
}

// probeKey is a key of a type no host has, used to ask known_hosts which
// keys it holds for an address.
type probeKey struct{}

func (probeKey) Type() string                         { return "kubeha-probe" }
func (probeKey) Marshal() []byte                      { return []byte("kubeha-probe") }
func (probeKey) Verify([]byte, *xssh.Signature) error { return errors.New("probe key") }

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

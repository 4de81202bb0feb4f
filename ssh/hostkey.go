package ssh

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

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

// KnownHosts checks host keys against one known_hosts file, with a policy
// for keys it lacks. Create one per run with NewKnownHosts and share it
// between Configs: accept-new appends are serialised.
type KnownHosts struct {
	path   string
	policy HostKeyPolicy
	mu     sync.Mutex
}

// NewKnownHosts returns a checker for the known_hosts file at path.
func NewKnownHosts(path string, policy HostKeyPolicy) *KnownHosts {
	return &KnownHosts{path: path, policy: policy}
}

func (k *KnownHosts) load() (xssh.HostKeyCallback, error) {
	if _, err := os.Stat(k.path); errors.Is(err, os.ErrNotExist) {
		// No file yet: every key is unknown; accept-new creates it.
		return func(string, net.Addr, xssh.PublicKey) error {
			return &knownhosts.KeyError{}
		}, nil
	}
	return knownhosts.New(k.path)
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

// algorithms returns the host key algorithms known_hosts has for addr, so
// the handshake asks for a key type that can be checked. Without this the
// server may offer another type first and a known host looks unknown or
// changed (golang/go#29286). A host known_hosts lacks gets
// DefaultHostKeyAlgorithms, not x/crypto's default order, which puts RSA
// and ECDSA before ed25519.
func (k *KnownHosts) algorithms(addr string) []string {
	if k.policy == HostKeyInsecureIgnore {
		return nil
	}
	k.mu.Lock()
	cb, err := k.load()
	k.mu.Unlock()
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, fakeAddr(addr), probeKey{}); !errors.As(err, &ke) {
		return nil
	}
	if len(ke.Want) == 0 {
		return DefaultHostKeyAlgorithms()
	}
	var algs []string
	seen := map[string]bool{}
	for _, w := range ke.Want {
		for _, a := range algorithmsFor(w.Key.Type()) {
			if !seen[a] {
				seen[a] = true
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
// messages) dialled at addr.
func (k *KnownHosts) callback(host string) xssh.HostKeyCallback {
	if k.policy == HostKeyInsecureIgnore {
		return xssh.InsecureIgnoreHostKey()
	}
	return func(addr string, remote net.Addr, key xssh.PublicKey) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		cb, err := k.load()
		if err != nil {
			return fmt.Errorf("read known hosts %s: %w", k.path, err)
		}
		err = cb(addr, remote, key)
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		fp := xssh.FingerprintSHA256(key)
		if len(ke.Want) > 0 {
			w := ke.Want[0]
			return &ChangedHostKeyError{Host: host, Address: addr, Fingerprint: fp, Known: xssh.FingerprintSHA256(w.Key), KnownHostsFile: w.Filename, Line: w.Line}
		}
		if k.policy != HostKeyAcceptNew {
			return &UnknownHostKeyError{Host: host, Address: addr, KeyType: key.Type(), Fingerprint: fp, KnownHosts: k.path}
		}
		return k.append(addr, key)
	}
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

func (k *KnownHosts) append(addr string, key xssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(k.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
	if _, err := f.WriteString(line + "\n"); err != nil {
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

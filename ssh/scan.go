package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKey is a key a host presented to ScanHostKey, not yet trusted: it is
// shown to the operator, and recorded with KnownHosts.Record once they have
// checked and accepted it.
type HostKey struct {
	// Name is the host's inventory name, for messages. Address is
	// host:port as dialled, the name known_hosts records the key under.
	Name, Address string
	// Type is the key's type (ssh-ed25519, …) and Fingerprint its SHA256
	// fingerprint, as `ssh-keygen -lf` prints it on the host. For a host
	// certificate both describe the certified key.
	Type, Fingerprint string
	// key is what the host presented; a certificate stays one, so that
	// Record checks it against the @cert-authority lines.
	key xssh.PublicKey
}

func newHostKey(name, addr string, key xssh.PublicKey) HostKey {
	plain := plainKey(key)
	return HostKey{Name: name, Address: addr, Type: plain.Type(), Fingerprint: xssh.FingerprintSHA256(plain), key: key}
}

// Line is the known_hosts line for the key with the host name in the
// clear: what Record writes when it does not hash. It is empty for a
// HostKey that ScanHostKey did not return.
func (k HostKey) Line() string {
	if k.key == nil {
		return ""
	}
	return knownHostsLine(k.Address, plainKey(k.key), false)
}

// plainKey is key without its certificate, if it is one.
func plainKey(key xssh.PublicKey) xssh.PublicKey {
	if cert, ok := key.(*xssh.Certificate); ok {
		return cert.Key
	}
	return key
}

// knownHostsLine is the line that records key for addr (host:port), the
// host name hashed when hash is set (as OpenSSH does with HashKnownHosts
// yes).
func knownHostsLine(addr string, key xssh.PublicKey, hash bool) string {
	name := knownhosts.Normalize(addr)
	if hash {
		name = knownhosts.HashHostname(name)
	}
	return name + " " + strings.TrimSpace(string(xssh.MarshalAuthorizedKey(key)))
}

// errGotKey ends a scan's handshake as soon as the host key is in hand.
var errGotKey = errors.New("host key received")

// ScanHostKey connects to the host of cfg, through its bastion when it has
// one, and returns the host key it presents, without logging in: the
// handshake stops at the host key, before any credential is sent, so only
// cfg's Name, Address, Port, DialTimeout, Bastion and HostKeys matter. It
// asks for key types as a dial with cfg.HostKeys would (the types
// known_hosts records for the host, else OpenSSH's order), so the key
// returned is the one later connections are presented and checked against.
// The key is not checked: that is for the operator, and for Record.
func ScanHostKey(ctx context.Context, cfg Config) (HostKey, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.dialTimeout())
	defer cancel()
	fail := func(err error) (HostKey, error) {
		return HostKey{}, &ConnectionError{Host: cfg.Name, Address: cfg.addr(), Err: err}
	}
	raw, bastion, err := connect(ctx, &cfg)
	if err != nil {
		return fail(err)
	}
	defer raw.Close()
	if bastion != nil {
		defer bastion.Close()
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	var algs []string
	if cfg.HostKeys != nil {
		algs = cfg.HostKeys.algorithms(cfg.addr())
	}
	if len(algs) == 0 {
		algs = DefaultHostKeyAlgorithms()
	}
	var key xssh.PublicKey
	_, _, _, err = xssh.NewClientConn(raw, cfg.addr(), &xssh.ClientConfig{
		User:              cfg.User,
		HostKeyAlgorithms: algs,
		HostKeyCallback: func(_ string, _ net.Addr, k xssh.PublicKey) error {
			key = k
			return errGotKey
		},
	})
	if key == nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fail(fmt.Errorf("no host key: %w", err))
	}
	return newHostKey(cfg.Name, cfg.addr(), key), nil
}

// Record adds key to the known_hosts file because the operator accepted
// it, whatever the checker's policy, through the same writer as accept-new:
// one appended line, the file and its directory created 0600 and 0700, the
// name hashed when hash is set. It holds the checker's lock, so it is safe
// beside dials that share the checker.
//
// It checks the key as a dial would first: a key the file already trusts is
// not written again, and a key that differs from the one recorded for the
// host, a key or CA marked @revoked, or a plain key for a host the file
// trusts through a certificate authority is refused with the error a dial
// gives (ChangedHostKeyError and the others), leaving the file as it was.
func (k *KnownHosts) Record(key HostKey, hash bool) error {
	if key.key == nil {
		return errors.New("record host key: no key (Record takes a key ScanHostKey returned)")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	db, err := k.read()
	if err != nil {
		return fmt.Errorf("read known hosts %s: %w", k.path, err)
	}
	return k.verify(db, key.Name, key.Address, key.key, hash, true)
}

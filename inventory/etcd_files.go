package inventory

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// EtcdCertWarnDays is how close to its end a certificate of the
// operator's etcd client files gets a warning.
const EtcdCertWarnDays = 30

// CheckEtcdClientFiles reads the client files of an etcd the operator runs
// (spec.etcd.external's caFile, certFile and keyFile) on this machine and
// checks that the apiservers could use them: each file readable; the CA
// file and the certificate file PEM certificates that parse; the key file
// an unencrypted PEM private key that parses and belongs to the
// certificate; the certificate, with any intermediates after it in its
// file, chained to a CA of the CA file and meant for client
// authentication; neither it nor the CA expired at now (a warning within
// EtcdCertWarnDays of it), nor not valid yet. Each problem names the field
// and the file. None ever holds a byte of the key file: what the key
// parser said is replaced by words of kubeha's.
//
// It returns nothing when c has no etcd of the operator's (stacked, or the
// one kubeha builds), or when a file is not named (Validate says so).
// With missingOK a file that does not exist is a warning, for `kubeha
// inventory validate`, which may run where the files are not.
//
// Validate reads nothing outside c; the commands that will use the files
// call this before any host is touched.
func CheckEtcdClientFiles(c *Cluster, now time.Time, missingOK bool) Problems {
	x := c.Spec.Etcd.External
	if c.Spec.Etcd.Topology != EtcdExternal || c.BuildsEtcd() || x == nil || x.CAFile == "" || x.CertFile == "" || x.KeyFile == "" {
		return nil
	}
	const p = "spec.etcd.external."
	var out Problems
	errorf := func(field, fix, format string, args ...any) {
		out = append(out, Problem{Path: p + field, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	warnf := func(field, fix, format string, args ...any) {
		out = append(out, Problem{Path: p + field, Message: fmt.Sprintf(format, args...), Fix: fix, Warning: true})
	}
	read := func(field, name string) ([]byte, os.FileInfo) {
		path := LocalPath(name)
		b, err := os.ReadFile(path)
		if err != nil {
			pr := Problem{Path: p + field, Message: fmt.Sprintf("cannot read %s: %v", name, unwrapPath(err)), Fix: "give a file this machine can read"}
			if missingOK && errors.Is(err, os.ErrNotExist) {
				pr.Message = name + " does not exist here (needed when kubeha applies)"
				pr.Fix, pr.Warning = "", true
			}
			out = append(out, pr)
			return nil, nil
		}
		fi, _ := os.Stat(path)
		return b, fi
	}
	caPEM, _ := read("caFile", x.CAFile)
	certPEM, _ := read("certFile", x.CertFile)
	keyPEM, keyInfo := read("keyFile", x.KeyFile)

	var cas []*x509.Certificate
	if caPEM != nil {
		var err error
		if cas, err = pemCertificates(caPEM); err != nil {
			errorf("caFile", "give the etcd CA's certificate in PEM (-----BEGIN CERTIFICATE-----)", "%s: %v", x.CAFile, err)
		}
	}
	var chain []*x509.Certificate
	if certPEM != nil {
		var err error
		if chain, err = pemCertificates(certPEM); err != nil {
			errorf("certFile", "give the client certificate in PEM (-----BEGIN CERTIFICATE-----), any intermediate CAs after it", "%s: %v", x.CertFile, err)
		}
	}
	var key crypto.PrivateKey
	if keyPEM != nil {
		var why string
		if key, why = pemPrivateKey(keyPEM); why != "" {
			errorf("keyFile", "give the client certificate's private key in PEM, unencrypted", "%s %s", x.KeyFile, why)
		}
		if keyInfo != nil && keyInfo.Mode().Perm()&0o077 != 0 {
			warnf("keyFile", "chmod 600 "+x.KeyFile, "%s is readable by others than its owner (mode %04o)", x.KeyFile, keyInfo.Mode().Perm())
		}
	}
	if len(chain) > 0 && key != nil && !samePublicKey(key, chain[0].PublicKey) {
		errorf("keyFile", "give the private key of the certificate in certFile, or the certificate of this key", "%s is not the private key of the certificate in %s", x.KeyFile, x.CertFile)
	}

	// Validity, then the chain: an expired certificate would fail the
	// chain too, with fewer words.
	dated := true
	when := func(field, file, what string, crt *x509.Certificate, fix string) {
		switch {
		case now.After(crt.NotAfter):
			errorf(field, fix, "%s: %s expired on %s", file, what, crt.NotAfter.UTC().Format(time.DateOnly))
			dated = false
		case now.Before(crt.NotBefore):
			errorf(field, "check this machine's clock, or "+fix, "%s: %s is not valid before %s", file, what, crt.NotBefore.UTC().Format(time.RFC3339))
			dated = false
		case now.Add(EtcdCertWarnDays * 24 * time.Hour).After(crt.NotAfter):
			warnf(field, fix+" soon", "%s: %s expires on %s, in %d days", file, what, crt.NotAfter.UTC().Format(time.DateOnly), int(crt.NotAfter.Sub(now).Hours()/24))
		}
	}
	for _, ca := range cas {
		when("caFile", x.CAFile, "the CA "+subject(ca), ca, "renew the etcd CA")
	}
	for i, crt := range chain {
		what := "the certificate " + subject(crt)
		if i > 0 {
			what = "the intermediate CA " + subject(crt)
		}
		when("certFile", x.CertFile, what, crt, "issue a new client certificate from the etcd CA")
	}
	if len(cas) == 0 || len(chain) == 0 || !dated {
		return out
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range cas {
		roots.AddCert(ca)
	}
	for _, crt := range chain[1:] {
		inter.AddCert(crt)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case err == nil:
	case errors.As(err, &unknown):
		errorf("certFile", "give a client certificate the etcd CA in caFile signed, or the CA that signed it",
			"%s: the certificate %s is not signed by the CA in %s", x.CertFile, subject(chain[0]), x.CAFile)
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
		errorf("certFile", "issue a client certificate (extended key usage clientAuth), such as kubeadm's apiserver-etcd-client",
			"%s: the certificate %s is not for client authentication: etcd would refuse it", x.CertFile, subject(chain[0]))
	default:
		errorf("certFile", "give a client certificate the etcd CA in caFile signed", "%s: %v", x.CertFile, err)
	}
	return out
}

// unwrapPath is err without the path os.ReadFile puts in front of it: the
// message names the file as the inventory does.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// subject names a certificate by its subject's common name, or its whole
// subject when it has none.
func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	return fmt.Sprintf("%q", c.Subject.String())
}

// pemCertificates parses every CERTIFICATE block of b, in order; an error
// when there is none, one does not parse, or b holds a private key too:
// the CA's and the certificate's files land world-readable on every
// master.
func pemCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for n := 1; ; {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if strings.HasSuffix(blk.Type, "PRIVATE KEY") {
			return nil, errors.New("holds a private key: it would land readable by all on every master; give the certificates alone")
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM certificate %d does not parse: %v", n, err)
		}
		out = append(out, c)
		n++
	}
	if len(out) == 0 {
		return nil, errors.New("holds no PEM certificate")
	}
	return out, nil
}

// pemPrivateKey parses the first PEM private key of b. On a problem it
// returns what is wrong, in words of its own that hold nothing of b.
func pemPrivateKey(b []byte) (crypto.PrivateKey, string) {
	sawCert := false
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			sawCert = true
			continue
		}
		if !strings.HasSuffix(blk.Type, "PRIVATE KEY") {
			continue
		}
		if blk.Type == "ENCRYPTED PRIVATE KEY" || blk.Headers["Proc-Type"] != "" {
			return nil, "is encrypted: the apiservers cannot ask for its passphrase"
		}
		if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
			return k, ""
		}
		if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
			return k, ""
		}
		if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
			return k, ""
		}
		return nil, "holds a PEM private key that does not parse (PKCS #8, PKCS #1 RSA or SEC 1 EC expected)"
	}
	if sawCert {
		return nil, "holds a certificate, not a private key"
	}
	return nil, "holds no PEM private key"
}

// samePublicKey reports whether key is the private half of pub.
func samePublicKey(key crypto.PrivateKey, pub crypto.PublicKey) bool {
	var mine crypto.PublicKey
	switch k := key.(type) {
	case *rsa.PrivateKey:
		mine = &k.PublicKey
	case *ecdsa.PrivateKey:
		mine = &k.PublicKey
	case ed25519.PrivateKey:
		mine = k.Public()
	default:
		return false
	}
	eq, ok := mine.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(pub)
}

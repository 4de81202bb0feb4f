package inventory

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of the etcd client files' tests.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// issued is a certificate and its key, in PEM.
type issued struct {
	crt  *x509.Certificate
	key  crypto.Signer
	cert []byte // PEM
	pkey []byte // PEM, PKCS #8
}

// issue makes a certificate for cn valid from nb to na, signed by parent
// (self-signed when nil); ca makes it a CA; eku its extended key usages.
func issue(t *testing.T, cn string, parent *issued, ca bool, nb, na time.Time, eku ...x509.ExtKeyUsage) *issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return issueWith(t, key, cn, parent, ca, nb, na, eku...)
}

func issueWith(t *testing.T, key crypto.Signer, cn string, parent *issued, ca bool, nb, na time.Time, eku ...x509.ExtKeyUsage) *issued {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku, BasicConstraintsValid: true, IsCA: ca}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.crt, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{crt: crt, key: key,
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pkey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})}
}

func TestCheckEtcdClientFiles(t *testing.T) {
	year := testNow.AddDate(1, 0, 0)
	ago := testNow.Add(-time.Hour)
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	ca := issue(t, "etcd-ca", nil, true, ago, testNow.AddDate(10, 0, 0))
	good := issue(t, "kube-apiserver-etcd-client", ca, false, ago, year, client...)
	other := issue(t, "other-ca", nil, true, ago, year)
	inter := issue(t, "etcd-intermediate", ca, true, ago, year)
	viaInter := issue(t, "via-intermediate", inter, false, ago, year, client...)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaClient := issueWith(t, rsaKey, "rsa-client", ca, false, ago, year, client...)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})

	type files struct{ ca, cert, key []byte }
	const (
		caP   = "spec.etcd.external.caFile"
		certP = "spec.etcd.external.certFile"
		keyP  = "spec.etcd.external.keyFile"
	)
	tests := []struct {
		name      string
		f         files
		keyMode   os.FileMode // 0: 0600
		missing   string      // the file not written: "ca", "cert" or "key"
		missingOK bool
		want      []string // "PATH: message" of each problem, warnings prefixed "warning: "
	}{
		{name: "good", f: files{ca.cert, good.cert, good.pkey}},
		{name: "through an intermediate", f: files{ca.cert, append(append([]byte{}, viaInter.cert...), inter.cert...), viaInter.pkey}},
		{name: "an RSA key in PKCS #1", f: files{ca.cert, rsaClient.cert, pkcs1}},
		{name: "a CA bundle", f: files{append(append([]byte{}, other.cert...), ca.cert...), good.cert, good.pkey}},
		{name: "the key file missing", f: files{ca.cert, good.cert, nil}, missing: "key",
			want: []string{keyP + ": cannot read KEY: no such file or directory"}},
		{name: "the key file missing, for validate", f: files{ca.cert, good.cert, nil}, missing: "key", missingOK: true,
			want: []string{"warning: " + keyP + ": KEY does not exist here (needed when kubeha applies)"}},
		{name: "the CA file is no PEM", f: files{[]byte("not pem\n"), good.cert, good.pkey},
			want: []string{caP + ": CA: holds no PEM certificate"}},
		{name: "the certificate file holds the key too", f: files{ca.cert, append(append([]byte{}, good.cert...), good.pkey...), good.pkey},
			want: []string{certP + ": CERT: holds a private key: it would land readable by all on every master; give the certificates alone"}},
		{name: "the key file holds a certificate", f: files{ca.cert, good.cert, good.cert},
			want: []string{keyP + ": KEY holds a certificate, not a private key"}},
		{name: "the key is encrypted", f: files{ca.cert, good.cert, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte("sealed")})},
			want: []string{keyP + ": KEY is encrypted: the apiservers cannot ask for its passphrase"}},
		{name: "the key does not parse", f: files{ca.cert, good.cert, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret-bytes-xyz")})},
			want: []string{keyP + ": KEY holds a PEM private key that does not parse (PKCS #8, PKCS #1 RSA or SEC 1 EC expected)"}},
		{name: "the key is another certificate's", f: files{ca.cert, good.cert, viaInter.pkey},
			want: []string{keyP + ": KEY is not the private key of the certificate in CERT"}},
		{name: "signed by another CA", f: files{other.cert, good.cert, good.pkey},
			want: []string{certP + `: CERT: the certificate "kube-apiserver-etcd-client" is not signed by the CA in CA`}},
		{name: "the intermediate left out", f: files{ca.cert, viaInter.cert, viaInter.pkey},
			want: []string{certP + `: CERT: the certificate "via-intermediate" is not signed by the CA in CA`}},
		{name: "a server certificate", f: func() files {
			s := issue(t, "etcd-server", ca, false, ago, year, x509.ExtKeyUsageServerAuth)
			return files{ca.cert, s.cert, s.pkey}
		}(), want: []string{certP + `: CERT: the certificate "etcd-server" is not for client authentication: etcd would refuse it`}},
		{name: "expired", f: func() files {
			e := issue(t, "old-client", ca, false, testNow.AddDate(-1, 0, 0), testNow.Add(-24*time.Hour), client...)
			return files{ca.cert, e.cert, e.pkey}
		}(), want: []string{certP + `: CERT: the certificate "old-client" expired on 2026-11-30`}},
		{name: "the CA expired", f: func() files {
			oldCA := issue(t, "old-ca", nil, true, testNow.AddDate(-2, 0, 0), testNow.AddDate(0, -1, 0))
			c := issue(t, "client", oldCA, false, ago, year, client...)
			return files{oldCA.cert, c.cert, c.pkey}
		}(), want: []string{caP + `: CA: the CA "old-ca" expired on 2026-11-01`}},
		{name: "not valid yet", f: func() files {
			e := issue(t, "new-client", ca, false, testNow.Add(time.Hour), year, client...)
			return files{ca.cert, e.cert, e.pkey}
		}(), want: []string{certP + `: CERT: the certificate "new-client" is not valid before 2026-12-01T13:00:00Z`}},
		{name: "expires soon: a warning", f: func() files {
			e := issue(t, "short-client", ca, false, ago, testNow.AddDate(0, 0, 10), client...)
			return files{ca.cert, e.cert, e.pkey}
		}(), want: []string{"warning: " + certP + `: CERT: the certificate "short-client" expires on 2026-12-11, in 10 days`}},
		{name: "the key readable by all: a warning", f: files{ca.cert, good.cert, good.pkey}, keyMode: 0o644,
			want: []string{"warning: " + keyP + ": KEY is readable by others than its owner (mode 0644)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			names := map[string]string{"ca": filepath.Join(dir, "ca.crt"), "cert": filepath.Join(dir, "client.crt"), "key": filepath.Join(dir, "client.key")}
			write := func(which string, b []byte, mode os.FileMode) {
				if which == tt.missing {
					return
				}
				if err := os.WriteFile(names[which], b, mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(names[which], mode); err != nil {
					t.Fatal(err)
				}
			}
			mode := tt.keyMode
			if mode == 0 {
				mode = 0o600
			}
			write("ca", tt.f.ca, 0o644)
			write("cert", tt.f.cert, 0o644)
			write("key", tt.f.key, mode)
			c := &Cluster{}
			c.Spec.Etcd = Etcd{Topology: EtcdExternal, External: &ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379"},
				CAFile: names["ca"], CertFile: names["cert"], KeyFile: names["key"]}}
			ps := CheckEtcdClientFiles(c, testNow, tt.missingOK)
			var got []string
			for _, p := range ps {
				s := p.Path + ": " + p.Message
				if p.Warning {
					s = "warning: " + s
				}
				s = strings.NewReplacer(names["ca"], "CA", names["cert"], "CERT", names["key"], "KEY").Replace(s)
				got = append(got, s)
				if p.Fix == "" && !(tt.missingOK && p.Warning) {
					t.Errorf("%s: no fix", s)
				}
				// Nothing of a key file ever shows.
				for _, k := range [][]byte{tt.f.key, good.pkey, viaInter.pkey, pkcs1} {
					for _, line := range strings.Split(string(k), "\n") {
						if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(p.String(), line) {
							t.Errorf("%s shows a line of a key file", s)
						}
					}
				}
				if strings.Contains(p.String(), "secret-bytes") {
					t.Errorf("%s shows the key file's bytes", s)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestCheckEtcdClientFilesOnlyForTheOperatorsEtcd: stacked etcd and the
// one kubeha builds have no client files of the operator's to read.
func TestCheckEtcdClientFilesOnlyForTheOperatorsEtcd(t *testing.T) {
	missing := &ExternalEtcd{CAFile: "/nonexistent/ca", CertFile: "/nonexistent/crt", KeyFile: "/nonexistent/key"}
	for _, e := range []Etcd{
		{Topology: EtcdStacked, External: missing},
		{Topology: EtcdExternal, External: missing}, // no endpoints: kubeha builds it
	} {
		c := &Cluster{}
		c.Spec.Etcd = e
		if ps := CheckEtcdClientFiles(c, testNow, false); len(ps) > 0 {
			t.Errorf("%+v: %v", e, ps)
		}
	}
}

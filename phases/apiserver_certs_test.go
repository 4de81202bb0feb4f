package phases

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/inventory"
)

// certWith is a self-signed PEM certificate for names and ips.
func certWith(t *testing.T, names []string, ips ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: names}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestWantedSANs: a master's certificate must carry the cluster's names
// and its own addresses, not the other masters'; the inventory's extra
// names are among the cluster's.
func TestWantedSANs(t *testing.T) {
	c := &inventory.Cluster{Spec: inventory.Spec{
		ControlPlaneEndpoint: inventory.Endpoint{Name: "api.local", Port: 16443},
		LoadBalancer:         inventory.LoadBalancer{VIP: "10.0.0.100"},
		Kubeadm:              inventory.Kubeadm{APIServerCertSANs: []string{"api.example.com", "192.0.2.7"}},
	}}
	for i, n := range []string{"m1", "m2"} {
		addr := "10.0.0." + string(rune('1'+i))
		c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: n, Address: addr, InternalAddress: addr, Role: inventory.RoleMaster})
	}
	got := strings.Join(wantedSANs(c, c.Spec.Hosts[1]), " ")
	if want := "api.local 10.0.0.100 127.0.0.1 localhost 10.0.0.2 api.example.com 192.0.2.7"; got != want {
		t.Errorf("wanted SANs of m2: %q, want %q", got, want)
	}
}

func TestMissingSANs(t *testing.T) {
	cert := certWith(t, []string{"api.local", "localhost"}, "10.0.0.100", "127.0.0.1")
	for _, tc := range []struct {
		want, missing []string
	}{
		{[]string{"api.local", "10.0.0.100", "127.0.0.1"}, nil},
		{[]string{"api.local", "api.example.com", "192.0.2.7", "10.0.0.100"}, []string{"api.example.com", "192.0.2.7"}},
		// An address written as a name is not an IP SAN, and the other way.
		{[]string{"10.0.0.101", "api"}, []string{"10.0.0.101", "api"}},
	} {
		got, err := missingSANs(cert, tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != strings.Join(tc.missing, " ") {
			t.Errorf("missing of %v: %v, want %v", tc.want, got, tc.missing)
		}
	}
	if _, err := missingSANs([]byte("not a certificate"), nil); err == nil {
		t.Error("no error for a file that is no certificate")
	}
}

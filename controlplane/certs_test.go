package controlplane

import (
	"os"
	"testing"
	"time"
)

// TestParseExpiration reads what the real kubeadm v1.37.2 printed for a PKI
// made by `kubeadm init phase certs all` (testdata/check-expiration.json:
// kubeconfigs missing, certificates valid a year, authorities ten).
func TestParseExpiration(t *testing.T) {
	b, err := os.ReadFile("testdata/check-expiration.json")
	if err != nil {
		t.Fatal(err)
	}
	certs, cas, err := ParseExpiration(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 11 || len(cas) != 3 {
		t.Fatalf("%d certificates and %d authorities, want 11 and 3", len(certs), len(cas))
	}
	m := MasterCertificates{Host: "m1", Certificates: certs, Authorities: cas}
	first, ok := m.Earliest()
	if !ok || first.Missing || first.Name != "apiserver" || first.CA != "ca" {
		t.Fatalf("earliest: %+v %v (want apiserver: the first present one, all expiring together)", first, ok)
	}
	if want := time.Date(2027, 11, 30, 14, 10, 56, 0, time.UTC); !first.Expires.Equal(want) {
		t.Errorf("expires %v, want %v", first.Expires, want)
	}
	missing := 0
	for _, c := range certs {
		if c.Missing {
			missing++
			if !c.Expires.IsZero() {
				t.Errorf("%s is missing but expires %v", c.Name, c.Expires)
			}
		}
	}
	if missing != 4 {
		t.Errorf("%d missing (the kubeconfigs), want 4", missing)
	}
	// An earlier certificate wins, whatever its place.
	m.Certificates = append(m.Certificates, Certificate{Name: "front-proxy-client", Expires: first.Expires.Add(-time.Hour)})
	if e, _ := m.Earliest(); e.Name != "front-proxy-client" {
		t.Errorf("earliest %s, want front-proxy-client", e.Name)
	}
	// What kubeadm says before the JSON is passed over.
	if c2, _, err := ParseExpiration(append([]byte("[check-expiration] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...\n"), b...)); err != nil || len(c2) != 11 {
		t.Errorf("with kubeadm's first line: %d certificates, %v", len(c2), err)
	}
	if _, _, err := ParseExpiration([]byte(`{"kind":"Status"}`)); err == nil {
		t.Error("another kind is not an error")
	}
}

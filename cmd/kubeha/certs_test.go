package main

import (
	"testing"
	"time"

	"github.com/kubeha/kubeha/controlplane"
)

func TestExpiringSoon(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	m := func(host string, in time.Duration) controlplane.MasterCertificates {
		return controlplane.MasterCertificates{Host: host, Certificates: []controlplane.Certificate{
			{Name: "admin.conf", Missing: true},
			{Name: "apiserver", Expires: now.Add(in)},
			{Name: "etcd-server", Expires: now.Add(in + time.Hour)},
		}}
	}
	for _, tc := range []struct {
		name    string
		masters []controlplane.MasterCertificates
		want    string
	}{
		{"a year left", []controlplane.MasterCertificates{m("m1", 365*24*time.Hour)}, ""},
		{"29 days on m2", []controlplane.MasterCertificates{m("m1", 365*24*time.Hour), m("m2", 29*24*time.Hour)},
			"m2: apiserver expires 2026-12-29T00:00:00Z, within 30 days: run kubeha certs renew (it renews master by master, draining each)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := expiringSoon(tc.masters, now)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

package controlplane

import (
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/scripts"
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

// TestRestartStaticPodEditsTheManifest runs the restart script against a
// kubeadm manifest, with and without annotations, and kube-vip's as lb
// renders it (its file named apart from its pod), with a kubectl that
// reports the restarted pod Ready: kubeha's annotation is set (replaced on
// a later renewal), nothing else changes, a manifest that carries the
// value already is left alone, and Restarted, which the load-balancer
// phase renders kube-vip's manifest through, writes the same bytes.
func TestRestartStaticPodEditsTheManifest(t *testing.T) {
	const withAnnotations = `apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 10.0.0.1:6443
  labels:
    component: kube-apiserver
  name: kube-apiserver
spec:
  containers:
  - name: kube-apiserver
`
	const without = `apiVersion: v1
kind: Pod
metadata:
  labels:
    component: kube-scheduler
  name: kube-scheduler
spec:
  containers:
  - name: kube-scheduler
`
	kv, err := lb.KubeVIP{Image: "ghcr.io/kube-vip/kube-vip:v1.2.3", Interface: "eth0", VIP: "10.0.0.100", Port: 6443, Kubeconfig: lb.AdminConf}.Render()
	if err != nil {
		t.Fatal(err)
	}
	kubeVIP := string(kv)
	if !strings.Contains(kubeVIP, "\nmetadata:\n") || strings.Count(kubeVIP, "\n  annotations:\n") != 1 {
		t.Fatalf("kube-vip's manifest has not the shape the restart edits:\n%s", kubeVIP)
	}
	for _, tc := range []struct {
		name                    string
		pod                     staticPod
		manifest, first, second string
	}{
		{"kube-apiserver", staticPod{"kube-apiserver", "kube-apiserver"}, withAnnotations,
			strings.Replace(withAnnotations, "  annotations:\n", "  annotations:\n    kubeha.io/restarted: \"T1\"\n", 1),
			strings.Replace(withAnnotations, "  annotations:\n", "  annotations:\n    kubeha.io/restarted: \"T2\"\n", 1)},
		{"kube-scheduler", staticPod{"kube-scheduler", "kube-scheduler"}, without,
			strings.Replace(without, "metadata:\n", "metadata:\n  annotations:\n    kubeha.io/restarted: \"T1\"\n", 1),
			strings.Replace(without, "metadata:\n", "metadata:\n  annotations:\n    kubeha.io/restarted: \"T2\"\n", 1)},
		{"kube-vip", kubeVIPPod, kubeVIP,
			strings.Replace(kubeVIP, "  annotations:\n", "  annotations:\n    kubeha.io/restarted: \"T1\"\n", 1),
			strings.Replace(kubeVIP, "  annotations:\n", "  annotations:\n    kubeha.io/restarted: \"T2\"\n", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "manifests")
			bin := filepath.Join(root, "bin")
			os.MkdirAll(dir, 0o755)
			os.MkdirAll(bin, 0o755)
			path := filepath.Join(dir, tc.pod.Manifest+".yaml")
			os.WriteFile(path, []byte(tc.manifest), 0o600)
			run := func(value string) string {
				// The mirror pod as the apiserver would report it once
				// the kubelet restarted the pod.
				os.WriteFile(filepath.Join(bin, "kubectl"), []byte("#!/bin/sh\necho '"+value+" True'\n"), 0o755)
				s := Frame(scriptHost("m1"), Endpoint, "5s", scripts.Render("controlplane/restart-static-pod", restartPods{dir, "m1", value, []staticPod{tc.pod}, 5}))
				cmd := exec.Command("sh", "-c", s.String())
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				return string(out)
			}
			check := func(want string) {
				t.Helper()
				got, _ := os.ReadFile(path)
				if string(got) != want {
					t.Errorf("manifest:\n%s\nwant:\n%s", got, want)
				}
				// Restarted writes what the script did, from the
				// manifest before any restart or after an earlier one.
				value := want[strings.Index(want, restartedPrefix)+len(restartedPrefix)+2:]
				value = value[:strings.IndexByte(value, '"')]
				for _, from := range []string{tc.manifest, tc.first} {
					if r := Restarted([]byte(from), value); string(r) != want {
						t.Errorf("Restarted(%q):\n%s\nwant:\n%s", value, r, want)
					}
				}
				if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
					t.Errorf("mode %v", fi.Mode())
				}
				if left, _ := filepath.Glob(filepath.Join(root, ".*")); len(left) > 0 {
					t.Errorf("temporary files left: %v", left)
				}
			}
			if out := run("T1"); !strings.Contains(out, "restarting "+tc.pod.Name+"-m1\n") {
				t.Errorf("first run did not say it restarts the pod: %q", out)
			}
			check(tc.first)
			if out := run("T1"); out != "" {
				t.Errorf("a rerun with the same value did something: %q", out)
			}
			check(tc.first)
			run("T2")
			check(tc.second)
		})
	}
}

// TestRenewalRestartsKubeVIP renews three masters' certificates: with
// kube-vip, each master's kube-vip is restarted after its control plane is
// back (it keeps admin.conf's old client certificate until it starts), and
// the master holding the VIP is renewed last, so the VIP moves once, to a
// master done already; a master that cannot say whether it holds the VIP
// stops the renewal before anything is renewed. Other modes neither ask
// for the VIP nor restart kube-vip.
func TestRenewalRestartsKubeVIP(t *testing.T) {
	expiration, err := os.ReadFile("testdata/check-expiration.json")
	if err != nil {
		t.Fatal(err)
	}
	if path.Dir(lb.KubeVIPManifestPath) != manifestsDir {
		t.Fatalf("kube-vip's manifest %s is not in %s, where the restart looks", lb.KubeVIPManifestPath, manifestsDir)
	}
	renewed := []string{"check certificate expiration", "renew certificates", "restart kube-controller-manager, kube-scheduler",
		"restart kube-apiserver", "wait for the apiserver", "wait for etcd"}
	withKubeVIP := append(append([]string{"check certificate expiration", "read the addresses"}, renewed...), "restart kube-vip")
	cases := []struct {
		name    string
		mode    string
		holder  string // the master whose addresses include the VIP
		failing string
		order   []string // the masters, in the order renewed
		ran     []string // each master's commands
		err     string
	}{
		{name: "kube-vip, m2 holds the VIP: last", mode: inventory.ModeKubeVIP, holder: "m2",
			order: []string{"m1", "m3", "m2"}, ran: withKubeVIP},
		{name: "kube-vip, m1 holds the VIP: last", mode: inventory.ModeKubeVIP, holder: "m1",
			order: []string{"m2", "m3", "m1"}, ran: withKubeVIP},
		{name: "kube-vip, no master holds the VIP: the inventory's order", mode: inventory.ModeKubeVIP,
			order: []string{"m1", "m2", "m3"}, ran: withKubeVIP},
		{name: "kube-vip, the addresses unread: nothing renewed", mode: inventory.ModeKubeVIP, failing: "read the addresses",
			ran: []string{"check certificate expiration", "read the addresses"},
			err: "who holds the VIP: m1: \"\" exited 1"},
		{name: "external: no kube-vip", mode: inventory.ModeExternal,
			order: []string{"m1", "m2", "m3"}, ran: append([]string{"check certificate expiration"}, renewed...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := masters(3)
			cl.Spec.LoadBalancer.Mode, cl.Spec.LoadBalancer.VIP = tc.mode, "10.0.0.100"
			hosts := &recordingHosts{stdout: map[string]string{"check certificate expiration": string(expiration)},
				hostStdout: map[string]string{}, failing: map[string]bool{tc.failing: tc.failing != ""}}
			if tc.holder != "" {
				hosts.hostStdout[tc.holder+": read the addresses"] = "eth0\n"
			}
			err := New(cl, hosts, &events.Secrets{}, t.TempDir()).For(events.Emitter{Sink: events.Discard}).RenewCertificates(context.Background())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var order []string
			for _, n := range hosts.names {
				if host, ok := strings.CutSuffix(n, ": renew certificates"); ok {
					order = append(order, host)
				}
			}
			if !slices.Equal(order, tc.order) {
				t.Errorf("renewed %v, want %v", order, tc.order)
			}
			hosts.checkRan(t, map[string][]string{"m1": tc.ran, "m2": tc.ran, "m3": tc.ran}, "m1", "m2", "m3")
		})
	}
}

package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/state"
)

// Certificate is one certificate, or certificate authority, that kubeadm
// manages on a master.
type Certificate struct {
	Name string `json:"name"`
	// Expires is zero for a certificate that is Missing.
	Expires           time.Time `json:"expires"`
	CA                string    `json:"ca,omitempty"`
	ExternallyManaged bool      `json:"externallyManaged,omitempty"`
	Missing           bool      `json:"missing,omitempty"`
}

// MasterCertificates is what kubeadm on one master says of its
// certificates and certificate authorities.
type MasterCertificates struct {
	Host         string        `json:"host"`
	Certificates []Certificate `json:"certificates"`
	Authorities  []Certificate `json:"authorities"`
}

// Earliest returns the certificate that expires first among those kubeadm
// renews (not missing, not externally managed), and whether there is one.
func (m MasterCertificates) Earliest() (Certificate, bool) {
	var first Certificate
	found := false
	for _, c := range m.Certificates {
		if c.Missing || c.ExternallyManaged || c.Expires.IsZero() {
			continue
		}
		if !found || c.Expires.Before(first.Expires) {
			first, found = c, true
		}
	}
	return first, found
}

// expirationInfo is kubeadm's `certs check-expiration -o json` output
// (output.kubeadm.k8s.io CertificateExpirationInfo).
type expirationInfo struct {
	Kind         string           `json:"kind"`
	Certificates []expirationCert `json:"certificates"`
	Authorities  []expirationCert `json:"certificateAuthorities"`
}

type expirationCert struct {
	Name              string     `json:"name"`
	ExpirationDate    *time.Time `json:"expirationDate"`
	ExternallyManaged bool       `json:"externallyManaged"`
	CAName            string     `json:"caName"`
	Missing           bool       `json:"missing"`
}

// ParseExpiration reads kubeadm's `certs check-expiration -o json`. Lines
// before the JSON (kubeadm says where it read the cluster's configuration
// from) are passed over.
func ParseExpiration(b []byte) (certs, authorities []Certificate, err error) {
	if !bytes.HasPrefix(b, []byte("{")) {
		if i := bytes.Index(b, []byte("\n{")); i >= 0 {
			b = b[i+1:]
		}
	}
	var info expirationInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, nil, fmt.Errorf("kubeadm certs check-expiration: %w", err)
	}
	if info.Kind != "CertificateExpirationInfo" {
		return nil, nil, fmt.Errorf("kubeadm certs check-expiration printed kind %q, not CertificateExpirationInfo", info.Kind)
	}
	conv := func(in []expirationCert) []Certificate {
		out := make([]Certificate, 0, len(in))
		for _, c := range in {
			cert := Certificate{Name: c.Name, CA: c.CAName, ExternallyManaged: c.ExternallyManaged, Missing: c.Missing}
			if c.ExpirationDate != nil {
				cert.Expires = c.ExpirationDate.UTC()
			}
			out = append(out, cert)
		}
		return out
	}
	return conv(info.Certificates), conv(info.Authorities), nil
}

// CertificateExpiry asks kubeadm on every master, at once, when each of
// its certificates and certificate authorities expires. It reads only. A
// master that does not answer is an error naming it; the others are
// still returned, in inventory order.
func (c *Client) CertificateExpiry(ctx context.Context) ([]MasterCertificates, error) {
	masters := c.cluster.Masters()
	out := make([]MasterCertificates, len(masters))
	answered := make([]bool, len(masters))
	err := c.onMasters(ctx, masters, func(m inventory.Host, i int) error {
		var err error
		out[i], err = c.masterCertificates(ctx, m)
		answered[i] = err == nil
		return err
	})
	var got []MasterCertificates
	for i := range masters {
		if answered[i] {
			got = append(got, out[i])
		}
	}
	return got, err
}

func (c *Client) masterCertificates(ctx context.Context, m inventory.Host) (MasterCertificates, error) {
	res, err := c.exec(ctx, m.Name, ssh.Command{Name: "check certificate expiration",
		Script: Frame(m, Own, "20s", scripts.Render("controlplane/certs-check", nil)).String()}, false)
	if err != nil {
		return MasterCertificates{}, err
	}
	certs, cas, err := ParseExpiration([]byte(res.Stdout))
	if err != nil {
		return MasterCertificates{}, fmt.Errorf("%s: %w", m.Name, err)
	}
	return MasterCertificates{Host: m.Name, Certificates: certs, Authorities: cas}, nil
}

// manifestsDir is where the kubelet reads the static pods.
const manifestsDir = "/etc/kubernetes/manifests"

// restarted are the static pods that read the certificates kubeadm renews
// only when they start, in the order a renewal restarts them: the
// controller-manager and the scheduler together, while this master's
// apiserver serves them, then the apiserver. On the harness machines the
// three restarted at once took 106 s until every mirror pod was back and
// Ready (the kubelet updated the controller-manager's and the scheduler's
// mirror pods only after the apiserver's), the two then the one 25 s and
// 60 s; a whole master's renewal took 101-109 s before, 82-109 s after.
// etcd is not among them: it reads its server and peer certificates again
// on every TLS handshake (go.etcd.io/etcd/client/pkg/v3/transport,
// TLSInfo's GetCertificate), so a renewal costs its quorum nothing.
var restarted = [][]string{{"kube-controller-manager", "kube-scheduler"}, {"kube-apiserver"}}

// renewalFile keeps, in the state directory, a renewal that has not
// finished: the next run finishes it rather than begin another. One older
// than renewResumeWithin is a renewal given up on.
const (
	renewalFile       = "certs-renew.json"
	renewResumeWithin = 24 * time.Hour
)

// renewal is one run of RenewCertificates, until it finishes.
type renewal struct {
	// Started identifies the renewal: the value its static pod restarts
	// write into the manifests.
	Started time.Time `json:"started"`
	// Before is each master's first expiry when the renewal began, as its
	// own clock put it: a later one means the renewal renewed it.
	Before map[string]time.Time `json:"before"`
}

// RenewCertificates renews every certificate kubeadm manages on each
// master in turn and restarts the static pods that read them only at start
// (restarted), back and Ready (the apiserver ready, etcd healthy) before
// the next master: the load balancers always have the other apiservers.
// With kube-vip, each master's kube-vip is restarted too, once its control
// plane is back, and the master holding the VIP comes last (renewalOrder).
// The local admin kubeconfig is saved again from the control host at the
// end.
//
// A renewal is kept in the state directory until it finishes: a master
// whose first certificate expires later than when the renewal began was
// renewed by it and is not renewed again, and a static pod whose manifest
// carries the renewal's start was restarted by it; so a run cut short
// anywhere is finished by the next.
func (c *Client) RenewCertificates(ctx context.Context) error {
	path := filepath.Join(c.stateDir, renewalFile)
	now := c.clock().UTC().Truncate(time.Second)
	var r renewal
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &r) == nil && now.Sub(r.Started) < renewResumeWithin && len(r.Before) > 0 {
		c.log.Info("finishing the renewal begun at " + r.Started.Format(time.RFC3339))
	} else {
		// Every master must answer before anything is renewed.
		masters, err := c.CertificateExpiry(ctx)
		if err != nil {
			return err
		}
		r = renewal{Started: now, Before: map[string]time.Time{}}
		for _, m := range masters {
			first, _ := m.Earliest()
			r.Before[m.Host] = first.Expires
		}
		b, _ := json.Marshal(r)
		if err := state.WriteFileAtomic(path, b, 0o600); err != nil {
			return err
		}
	}
	if err := c.renewCertificates(ctx, r); err != nil {
		return err
	}
	return os.Remove(path)
}

func (c *Client) renewCertificates(ctx context.Context, r renewal) error {
	control, err := c.Control(ctx)
	if err != nil {
		return err
	}
	value := r.Started.Format(time.RFC3339)
	masters, err := c.renewalOrder(ctx)
	if err != nil {
		return err
	}
	for _, m := range masters {
		log := c.log.ForHost(m.Name)
		start := time.Now()
		have, err := c.masterCertificates(ctx, m)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		before := r.Before[m.Name]
		if first, ok := have.Earliest(); ok && !before.IsZero() && first.Expires.After(before) {
			log.Info("certificates renewed already, by this renewal (started " + value + ")")
		} else {
			if _, err := c.KubectlOn(ctx, m, Own, "renew certificates", scripts.Render("controlplane/certs-renew", nil)); err != nil {
				return fmt.Errorf("%s: kubeadm certs renew all: %w", m.Name, err)
			}
		}
		if err := c.restartRenewed(ctx, m, value); err != nil {
			return err
		}
		log.Info(fmt.Sprintf("certificates renewed and the control plane restarted in %s", time.Since(start).Round(100*time.Millisecond)))
	}
	return c.SaveAdminKubeconfig(ctx, control)
}

// renewalOrder is the order RenewCertificates takes the masters in: the
// inventory's, but with kube-vip the master holding the VIP last. kube-vip
// renews its Lease through its own master's apiserver (lb.KubeVIP), so the
// holder's apiserver restart, and then its kube-vip's, moves the VIP to
// another master: taken last, the VIP moves once, to a master renewed
// already, where taken first it would move again when its new holder's
// turn came. (The other masters' restarts leave the VIP where it is.) No
// master holding it, the order is the inventory's. A master that does not
// answer is an error: its renewal could not go on either.
func (c *Client) renewalOrder(ctx context.Context) ([]inventory.Host, error) {
	masters := c.cluster.Masters()
	spec := c.cluster.Spec.LoadBalancer
	if spec.Mode != inventory.ModeKubeVIP {
		return masters, nil
	}
	holds := make([]bool, len(masters))
	if err := c.onMasters(ctx, masters, func(m inventory.Host, i int) error {
		var err error
		if holds[i], err = c.HoldsAddress(ctx, m.Name, spec.VIP); err != nil {
			return fmt.Errorf("who holds the VIP: %w", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if i := slices.Index(holds, true); i >= 0 {
		holder := masters[i]
		return append(slices.Delete(slices.Clone(masters), i, i+1), holder), nil
	}
	return masters, nil
}

// restartRenewed restarts master m's static pods that read the renewed
// certificates only at start (restarted), the apiserver drained from the
// load balancers and handed back on every way out (with its checks on
// again, haproxy takes out an apiserver left broken), and waits until the
// apiserver is ready and etcd healthy. Then, with kube-vip, it restarts
// kube-vip (RestartKubeVIP), which kept admin.conf's old client
// certificate; there is nothing to drain for it (Balancers is empty), and
// kube-vip takes part in the election only through m's own apiserver, so
// it restarts once that apiserver is ready.
func (c *Client) restartRenewed(ctx context.Context, m inventory.Host, value string) error {
	for _, components := range restarted {
		if slices.Contains(components, "kube-apiserver") {
			c.SetBackendOrWarn(ctx, m.Name, BackendDrain)
			defer c.SetBackendOrWarn(context.WithoutCancel(ctx), m.Name, BackendReady)
		}
		if err := c.RestartStaticPods(ctx, m, value, components...); err != nil {
			return err
		}
	}
	if err := c.WaitReady(ctx, m, 180); err != nil {
		return fmt.Errorf("%s: after the apiserver's restart: %w", m.Name, err)
	}
	if err := c.WaitEtcd(ctx, m, 180); err != nil {
		return fmt.Errorf("%s: etcd after the renewal: %w", m.Name, err)
	}
	return c.RestartKubeVIP(ctx, m, value)
}

// staticPod is a static pod on a master: Manifest its manifest's file name
// in manifestsDir without .yaml, Name its pod's name (the kubelet's mirror
// pod of it is Name-<node>).
type staticPod struct{ Manifest, Name string }

// kubeadmPods are kubeadm's static pods components: kubeadm names each
// manifest after its pod.
func kubeadmPods(components []string) []staticPod {
	pods := make([]staticPod, len(components))
	for i, c := range components {
		pods[i] = staticPod{Manifest: c, Name: c}
	}
	return pods
}

// kubeVIPPod is kubeha's kube-vip (lb.KubeVIPManifestPath, in manifestsDir).
var kubeVIPPod = staticPod{Manifest: strings.TrimSuffix(path.Base(lb.KubeVIPManifestPath), ".yaml"), Name: lb.KubeVIPPodName}

// restartPods is what controlplane/restart-static-pod takes.
type restartPods struct {
	Dir, Node, Value string
	Pods             []staticPod
	Secs             int
}

// RestartStaticPods restarts kubeadm's static pods components on master m
// by changing their manifests (the annotation kubeha.io/restarted set to
// value), as kubeadm's upgrade does, and waits until each is back and
// Ready: the kubelet stops each old pod gracefully, so an apiserver fails
// /readyz and serves on while the load balancers take it out. A pod whose
// manifest carries value already is not restarted again.
func (c *Client) RestartStaticPods(ctx context.Context, m inventory.Host, value string, components ...string) error {
	return c.restartPods(ctx, m, value, kubeadmPods(components))
}

// RestartKubeVIP restarts kube-vip on master m, in mode kube-vip only, the
// way RestartStaticPods restarts kubeadm's pods (value as there: a kube-vip
// whose manifest carries it already is not restarted again). kube-vip
// reads its kubeconfig, admin.conf, only when it starts and keeps the
// client certificate in memory: call it once kubeadm has renewed
// admin.conf on m (a certificate renewal, an upgrade) and m's apiserver is
// ready again; until it restarts, kube-vip renews its Lease with the old
// certificate, which the apiserver refuses once it expires. The
// load-balancer phase takes a manifest that differs from its own only by
// this annotation as due (phases.ConfigureLoadBalancer), so the next apply
// does not restart kube-vip again.
//
// On the VIP holder the restart moves the VIP to another master, a few
// seconds without the endpoint (docs/failover.md); the wait for the new
// pod goes through the endpoint and tries again until it answers.
func (c *Client) RestartKubeVIP(ctx context.Context, m inventory.Host, value string) error {
	if c.cluster.Spec.LoadBalancer.Mode != inventory.ModeKubeVIP {
		return nil
	}
	return c.restartPods(ctx, m, value, []staticPod{kubeVIPPod})
}

// restartedLine is the line controlplane/restart-static-pod writes into a
// manifest's metadata.annotations, with the restart's value.
func restartedLine(value string) string {
	return restartedPrefix + ` "` + value + `"`
}

// restartedPrefix begins restartedLine, whatever the value.
const restartedPrefix = "    " + RestartedAnnotation + ":"

// RestartedAnnotation is the annotation a restart of a static pod sets in
// its manifest (RestartStaticPods, RestartKubeVIP).
const RestartedAnnotation = "kubeha.io/restarted"

// Restarted is manifest as a restart with value leaves it, byte for byte
// what controlplane/restart-static-pod's awk writes (the tests run both):
// any earlier value dropped, the new one first among metadata's
// annotations. The load-balancer phase renders kube-vip's manifest
// through it with the value the host's carries, so that a restart is not
// a change to undo.
func Restarted(manifest []byte, value string) []byte {
	lines := strings.Split(string(manifest), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	// Two passes, as the awk's: whether metadata has annotations, then
	// the copy.
	top := func(l string) bool { return l != "" && l[0] != ' ' }
	has, inMeta := false, false
	for _, l := range lines {
		switch {
		case l == "metadata:":
			inMeta = true
		case inMeta && top(l):
			inMeta = false
		case inMeta && l == "  annotations:":
			has = true
		}
	}
	var b strings.Builder
	line := restartedLine(value)
	inMeta = false
	for _, l := range lines {
		if strings.HasPrefix(l, restartedPrefix) {
			continue
		}
		b.WriteString(l + "\n")
		if l == "metadata:" {
			inMeta = true
			if !has {
				b.WriteString("  annotations:\n" + line + "\n")
			}
			continue
		}
		if inMeta && top(l) {
			inMeta = false
		}
		if inMeta && l == "  annotations:" {
			b.WriteString(line + "\n")
		}
	}
	return []byte(b.String())
}

func (c *Client) restartPods(ctx context.Context, m inventory.Host, value string, pods []staticPod) error {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	what := strings.Join(names, ", ")
	body := scripts.Render("controlplane/restart-static-pod", restartPods{manifestsDir, m.Name, value, pods, 300})
	// Through the endpoint: this master's own apiserver may be what
	// restarts.
	if _, err := c.exec(ctx, m.Name, ssh.Command{Name: "restart " + what, Script: Frame(m, Endpoint, "5s", body).String()}, true); err != nil {
		return fmt.Errorf("%s: restart %s: %w", m.Name, what, err)
	}
	return nil
}

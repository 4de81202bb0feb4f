package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/phases"
)

// certsSoon is how near an expiry makes `kubeha certs check` fail: time to
// renew before kubeadm's one-year certificates end.
const certsSoon = 30 * 24 * time.Hour

// certsCmd is kubeha certs: the certificates kubeadm manages on the
// masters, asked through the control-plane client.
func (c *cmdContext) certsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "The certificates kubeadm manages on the masters"}
	var f runFlags
	check := &cobra.Command{
		Use:   "check",
		Short: "Show when each master's first certificate expires (kubeadm certs check-expiration); exit 1 when one expires within 30 days or a master does not answer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := c.open(cmd.Context(), &f)
			if err != nil {
				return readOnly("certs check", err)
			}
			defer s.close()
			cp := s.runner.ControlPlane.For(events.Emitter{Sink: s.runner.Events, Phase: "certs-check"})
			masters, askErr := cp.CertificateExpiry(cmd.Context())
			printCertificates(c.app, masters)
			return readOnly("certs check", errors.Join(askErr, expiringSoon(masters, time.Now())))
		},
	}
	f.bind(check, false)
	var rf runFlags
	renew := &cobra.Command{
		Use:   "renew",
		Short: "Renew every certificate kubeadm manages, one master at a time, restarting its control plane behind the load balancers",
		Long: `Renews, on each master in turn, every certificate kubeadm manages (kubeadm
certs renew all) and restarts that master's controller-manager and
scheduler, then its apiserver, so they use them, back and Ready before the
next master: the load balancers keep the other apiservers. etcd reads its certificates
again on every TLS handshake and is not restarted. The local admin kubeconfig is saved again,
and with spec.adminKubeconfig.copyToSSHUser the SSH users' copies of admin.conf on the masters
(the user-kubeconfig phase). The kubelets' client certificates are not touched: the kubelets
rotate them.

Cut short, it is finished by running it again: no master is renewed or
restarted twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := c.open(cmd.Context(), &rf)
			if err != nil {
				return err
			}
			defer s.close()
			cp := s.runner.ControlPlane.For(events.Emitter{Sink: s.runner.Events, Phase: "certs-renew"})
			if err := cp.RenewCertificates(cmd.Context()); err != nil {
				return err
			}
			// The renewal gave every admin.conf a new client certificate:
			// the SSH users' copies follow, as the next apply would.
			if s.runner.Cluster.Spec.AdminKubeconfig.CopyToSSHUser {
				id := phases.CopyAdminKubeconfig{}.ID()
				if err := s.runner.Apply(cmd.Context(), phases.Selection{Only: []string{id}}); err != nil {
					return fmt.Errorf("certificates renewed; the SSH users' kubeconfigs not refreshed (kubeha phase %s -i INVENTORY retries): %w", id, err)
				}
			}
			masters, askErr := cp.CertificateExpiry(cmd.Context())
			printCertificates(c.app, masters)
			return askErr
		},
	}
	rf.bind(renew, false)
	cmd.AddCommand(check, renew)
	return cmd
}

// printCertificates prints one line per master: its first certificate to
// expire, and its first certificate authority to expire.
func printCertificates(a *app, masters []controlplane.MasterCertificates) {
	now := time.Now()
	for _, m := range masters {
		first, ok := m.Earliest()
		if !ok {
			fmt.Fprintf(a.stdout, "%s: no certificate kubeadm renews\n", m.Host)
			continue
		}
		ca := controlplane.MasterCertificates{Certificates: m.Authorities}
		firstCA, _ := ca.Earliest()
		fmt.Fprintf(a.stdout, "%s: first to expire %s on %s (in %d days); first authority %s on %s\n",
			m.Host, first.Name, first.Expires.Format(time.RFC3339), int(first.Expires.Sub(now).Hours()/24),
			firstCA.Name, firstCA.Expires.Format(time.RFC3339))
	}
}

// expiringSoon is an error naming every master whose first certificate
// expires within certsSoon of now.
func expiringSoon(masters []controlplane.MasterCertificates, now time.Time) error {
	var errs []error
	for _, m := range masters {
		if first, ok := m.Earliest(); ok && first.Expires.Sub(now) < certsSoon {
			errs = append(errs, fmt.Errorf("%s: %s expires %s, within 30 days: run kubeha certs renew (it renews master by master, draining each)",
				m.Host, first.Name, first.Expires.Format(time.RFC3339)))
		}
	}
	return errors.Join(errs...)
}

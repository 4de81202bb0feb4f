package controlplane

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/kubeconfig"
	"github.com/kubeha/kubeha/state"
)

var serverRE = regexp.MustCompile(`(?m)^(\s*server:\s*).*$`)

// AdminKubeconfigFile is the admin kubeconfig's name in a cluster's
// state directory.
const AdminKubeconfigFile = "admin.conf"

// AdminKubeconfigPath is where the admin kubeconfig is saved locally.
func (c *Client) AdminKubeconfigPath() string { return filepath.Join(c.stateDir, AdminKubeconfigFile) }

// SaveAdminKubeconfig fetches master m's admin.conf and saves it locally
// (0600, atomically), pointed at an address this machine can reach without
// the hosts' /etc/hosts: the VIP or the SLB (both in the apiserver
// certificate), or else the first master.
func (c *Client) SaveAdminKubeconfig(ctx context.Context, m inventory.Host) error {
	b, err := c.hosts.Download(ctx, m.Name, kubeadm.AdminConfPath)
	if err != nil {
		return err
	}
	c.secrets.Add(kubeconfig.Credentials(b)...)
	b = serverRE.ReplaceAll(b, []byte("${1}"+LocalServer(c.cluster)))
	if err := os.MkdirAll(c.stateDir, 0o700); err != nil {
		return err
	}
	p := c.AdminKubeconfigPath()
	if err := state.WriteFileAtomic(p, b, 0o600); err != nil {
		return err
	}
	c.log.ForHost(m.Name).Info("admin kubeconfig saved to " + p)
	return nil
}

// LocalServer is the apiserver URL for kubeha's own machine: the VIP or the
// SLB with the endpoint's port, or else the first master's own apiserver.
func LocalServer(cl *inventory.Cluster) string {
	addr, port := cl.Masters()[0].Address, inventory.APIServerPort
	switch lb := cl.Spec.LoadBalancer; {
	case lb.VIP != "":
		addr, port = lb.VIP, cl.Spec.ControlPlaneEndpoint.Port
	case lb.Mode == inventory.ModeExternal:
		addr, port = lb.Address, cl.Spec.ControlPlaneEndpoint.Port
	}
	return "https://" + net.JoinHostPort(addr, strconv.Itoa(port))
}

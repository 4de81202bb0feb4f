// Package inventory loads, defaults and validates the cluster inventory: the
// YAML file that names the hosts, how to reach them and how the cluster is
// shaped. Nothing outside this package parses inventory YAML.
//
// The flow is Load (strict decoding, errors carry YAML paths) → Default (the
// only place defaults are set) → Validate (every problem at once). Callers
// get a *Cluster only after all three succeeded, so the rest of kubeha can
// rely on every field being present and sane.
package inventory

import (
	"net"
	"strconv"
)

// APIVersion and Kind identify a kubeha inventory document.
const (
	APIVersion = "kubeha.io/v1alpha1"
	Kind       = "Cluster"
)

// Host roles.
const (
	RoleMaster       = "master"
	RoleWorker       = "worker"
	RoleLoadBalancer = "loadbalancer"
	// RoleEtcd hosts run nothing but a member of the external etcd
	// cluster kubeha builds (etcd.topology external without endpoints),
	// as a static pod of a standalone kubelet: they are not nodes of the
	// Kubernetes cluster.
	RoleEtcd = "etcd"
)

// Load-balancer modes, placements and local proxies.
const (
	ModeKeepalivedHAProxy = "keepalived-haproxy"
	ModeKubeVIP           = "kube-vip"
	ModeLocalProxy        = "local-proxy"
	ModeExternal          = "external"

	PlacementMasters   = "masters"
	PlacementDedicated = "dedicated"

	ProxyHAProxy = "haproxy"
	ProxyNginx   = "nginx"
)

// Etcd topologies, kube-proxy modes and CNI plugins.
const (
	EtcdStacked  = "stacked"
	EtcdExternal = "external"

	ProxyModeIPVS     = "ipvs"
	ProxyModeIPTables = "iptables"
	ProxyModeNFTables = "nftables"

	CNIBridge   = "bridge"
	CNIManifest = "manifest"
	CNINone     = "none"
)

// APIServerPort is the port every kube-apiserver binds. kubeha does not make
// it configurable: the load balancer in front of it is what operators tune.
const APIServerPort = 6443

// Cluster is one inventory document. Field names and YAML keys are the
// documented schema (docs/inventory.md); the yaml tags are what the strict
// decoder matches keys against. Every string field has a form (forms.go)
// that Validate enforces; TestEveryStringFieldHasAForm fails for a new
// string field until it has one.
type Cluster struct {
	APIVersion string   `yaml:"apiVersion,omitempty"`
	Kind       string   `yaml:"kind,omitempty"`
	Metadata   Metadata `yaml:"metadata,omitempty"`
	Spec       Spec     `yaml:"spec,omitempty"`
}

// Metadata names the cluster. The name keys the local state directory.
type Metadata struct {
	Name string `yaml:"name,omitempty"`
}

// Spec is everything that shapes the cluster.
type Spec struct {
	KubernetesVersion    string          `yaml:"kubernetesVersion,omitempty"`
	SSH                  SSH             `yaml:"ssh,omitempty"`
	Hosts                []Host          `yaml:"hosts,omitempty"`
	ControlPlaneEndpoint Endpoint        `yaml:"controlPlaneEndpoint,omitempty"`
	LoadBalancer         LoadBalancer    `yaml:"loadBalancer,omitempty"`
	Etcd                 Etcd            `yaml:"etcd,omitempty"`
	Network              Network         `yaml:"network,omitempty"`
	CNI                  CNI             `yaml:"cni,omitempty"`
	Kubeadm              Kubeadm         `yaml:"kubeadm,omitempty"`
	AdminKubeconfig      AdminKubeconfig `yaml:"adminKubeconfig,omitempty"`
	Artifacts            *Artifacts      `yaml:"artifacts,omitempty"`
}

// Artifacts points at a bundle (kubeha bundle create) for sites whose hosts
// cannot download: kubeadm, kubelet, kubectl, their units and the images
// are uploaded from it.
type Artifacts struct {
	Dir string `yaml:"dir,omitempty"`
}

// SSH holds the connection settings shared by every host. User, Port and
// KeyPath left empty are resolved at connect time from ~/.ssh/config and then
// OpenSSH's own defaults, so an operator's existing SSH setup keeps working.
type SSH struct {
	User           string   `yaml:"user,omitempty"`
	Port           int      `yaml:"port,omitempty"`
	KeyPath        string   `yaml:"keyPath,omitempty"`
	KnownHostsPath string   `yaml:"knownHostsPath,omitempty"`
	UseAgent       *bool    `yaml:"useAgent,omitempty"`
	Sudo           *bool    `yaml:"sudo,omitempty"`
	Bastion        *Bastion `yaml:"bastion,omitempty"`
}

// Bastion is a jump host that every host is reached through.
type Bastion struct {
	Address string `yaml:"address,omitempty"`
	Port    int    `yaml:"port,omitempty"`
	User    string `yaml:"user,omitempty"`
	KeyPath string `yaml:"keyPath,omitempty"`
}

// HostSSH overrides the shared SSH settings for one host.
type HostSSH struct {
	User    string `yaml:"user,omitempty"`
	Port    int    `yaml:"port,omitempty"`
	KeyPath string `yaml:"keyPath,omitempty"`
	Sudo    *bool  `yaml:"sudo,omitempty"`
}

// Host is one machine. Address is how kubeha reaches it over SSH (an IP or a
// DNS name); InternalAddress is the IP the cluster uses between nodes.
type Host struct {
	Name            string   `yaml:"name,omitempty"`
	Address         string   `yaml:"address,omitempty"`
	InternalAddress string   `yaml:"internalAddress,omitempty"`
	Role            string   `yaml:"role,omitempty"`
	SSH             *HostSSH `yaml:"ssh,omitempty"`
}

// Endpoint is the DNS-style name and port every client uses to reach the
// apiservers; the load balancer decides where the name points.
type Endpoint struct {
	Name string `yaml:"name,omitempty"`
	Port int    `yaml:"port,omitempty"`
}

// LoadBalancer selects and configures the API load balancer. Which fields
// matter depends on Mode; Validate says which are missing or ignored.
type LoadBalancer struct {
	Mode            string `yaml:"mode,omitempty"`
	Placement       string `yaml:"placement,omitempty"`
	StaticPods      bool   `yaml:"staticPods,omitempty"`
	VIP             string `yaml:"vip,omitempty"`
	Interface       string `yaml:"interface,omitempty"`
	VirtualRouterID int    `yaml:"virtualRouterID,omitempty"`
	Proxy           string `yaml:"proxy,omitempty"`
	Address         string `yaml:"address,omitempty"`
	// Images run haproxy and keepalived when StaticPods is set, and
	// kube-vip in mode kube-vip.
	Images *LBImages `yaml:"images,omitempty"`
}

// LBImages are the container images of the static-pod load balancer.
// For haproxy and keepalived any image with the program on its PATH
// works: kubeha gives the command line and mounts the configuration
// itself. KubeVIP is kube-vip's own image (its entrypoint is kube-vip,
// configured by environment variables), for mode kube-vip.
type LBImages struct {
	HAProxy    string `yaml:"haproxy,omitempty"`
	Keepalived string `yaml:"keepalived,omitempty"`
	KubeVIP    string `yaml:"kubeVip,omitempty"`
}

// Etcd selects stacked etcd (on the masters, managed by kubeadm) or an
// external cluster: one the operator runs (External with endpoints), or
// one kubeha builds on the hosts with role etcd (no endpoints).
type Etcd struct {
	Topology string        `yaml:"topology,omitempty"`
	External *ExternalEtcd `yaml:"external,omitempty"`
}

// ExternalEtcd points at an etcd cluster kubeha does not manage.
type ExternalEtcd struct {
	Endpoints []string `yaml:"endpoints,omitempty"`
	CAFile    string   `yaml:"caFile,omitempty"`
	CertFile  string   `yaml:"certFile,omitempty"`
	KeyFile   string   `yaml:"keyFile,omitempty"`
}

// Network holds the cluster CIDRs and how Services are proxied.
type Network struct {
	PodSubnet     string `yaml:"podSubnet,omitempty"`
	ServiceSubnet string `yaml:"serviceSubnet,omitempty"`
	DNSDomain     string `yaml:"dnsDomain,omitempty"`
	KubeProxyMode string `yaml:"kubeProxyMode,omitempty"`
	// KubeProxyFallbackMode, when set, is used instead of ipvs if a node's
	// kernel has no ip_vs; unset, such a node fails the facts phase.
	KubeProxyFallbackMode string    `yaml:"kubeProxyFallbackMode,omitempty"`
	PodRoutes             PodRoutes `yaml:"podRoutes,omitempty"`
}

// PodRoutes adds static routes for the Pod and Service CIDRs through a named
// interface and gateway (seed 003), for hosts whose default route is on
// another network.
type PodRoutes struct {
	Enabled   bool   `yaml:"enabled,omitempty"`
	Interface string `yaml:"interface,omitempty"`
	Gateway   string `yaml:"gateway,omitempty"`
}

// CNI selects the pod network.
type CNI struct {
	Plugin   string `yaml:"plugin,omitempty"`
	Manifest string `yaml:"manifest,omitempty"`
	// Ports are what a manifest CNI needs open on the nodes, which kubeha
	// cannot read from the manifest: flannel's VXLAN 8472/udp, calico's
	// BGP 179/tcp. Each is PORT/PROTO or FROM-TO/PROTO, as firewall-cmd's
	// --add-port takes it (formPort). host-prep opens them on every
	// master and worker where firewalld runs, with the ports of the
	// host's role; they are ignored with the other plugins.
	Ports []string `yaml:"ports,omitempty"`
}

// Kubeadm carries pass-through settings for kubeadm; user values are applied
// last so they win over kubeha's own.
type Kubeadm struct {
	APIServerExtraArgs map[string]string `yaml:"apiServerExtraArgs,omitempty"`
	// APIServerCertSANs are names and addresses the apiservers' serving
	// certificate carries besides the endpoint's, the VIP or SLB and the
	// masters' own: a DNS name or load balancer added later. Changing them
	// on a running cluster reissues each master's certificate.
	APIServerCertSANs []string          `yaml:"apiServerCertSANs,omitempty"`
	KubeletExtraArgs  map[string]string `yaml:"kubeletExtraArgs,omitempty"`
	PatchesDir        string            `yaml:"patchesDir,omitempty"`
	// KubeletConfiguration and KubeProxyConfiguration are merged over the
	// documents kubeha renders (kubelet.config.k8s.io/v1beta1,
	// kubeproxy.config.k8s.io/v1alpha1), key by key, nested maps included.
	// They are the only free-form strings of the inventory: they reach a
	// host only through the yaml.v3 encoder (kubeadm.InitConfig), which
	// quotes whatever needs quoting, so no value can add a key, a line
	// outside its scalar or a document. Code that reads a key from them
	// itself must add a rule for it in Validate (as for cgroupDriver).
	KubeletConfiguration   map[string]any `yaml:"kubeletConfiguration,omitempty"`
	KubeProxyConfiguration map[string]any `yaml:"kubeProxyConfiguration,omitempty"`
	// IgnorePreflightErrors is passed to kubeadm init and join.
	IgnorePreflightErrors []string `yaml:"ignorePreflightErrors,omitempty"`
}

// AdminKubeconfig says where the cluster's admin kubeconfig goes besides
// .kubeha/<cluster>/admin.conf on this machine.
type AdminKubeconfig struct {
	// CopyToSSHUser puts each master's /etc/kubernetes/admin.conf at
	// $HOME/.kube/config of the user kubeha logs in as there, 0600 in a
	// 0700 directory, owned by that user: kubeadm's "To start using your
	// cluster" steps, which seed 001 runs on every master by hand. A file
	// there that is neither kubeha's copy nor this cluster's earlier
	// admin credentials is kept, with a warning (phases.CopyAdminKubeconfig).
	CopyToSSHUser bool `yaml:"copyToSSHUser,omitempty"`
}

// Masters returns the hosts with role master, in inventory order. The first
// one is where kubeadm init runs.
func (c *Cluster) Masters() []Host { return c.hostsWithRole(RoleMaster) }

// Workers returns the hosts with role worker, in inventory order.
func (c *Cluster) Workers() []Host { return c.hostsWithRole(RoleWorker) }

// LoadBalancers returns the hosts with role loadbalancer, in inventory order.
func (c *Cluster) LoadBalancers() []Host { return c.hostsWithRole(RoleLoadBalancer) }

// EtcdHosts returns the hosts with role etcd, in inventory order. The
// first one is where the etcd CA is made.
func (c *Cluster) EtcdHosts() []Host { return c.hostsWithRole(RoleEtcd) }

// BuildsEtcd reports whether kubeha builds the external etcd cluster, on
// the etcd hosts: topology external and no endpoints of the operator's.
func (c *Cluster) BuildsEtcd() bool {
	e := c.Spec.Etcd
	return e.Topology == EtcdExternal && (e.External == nil || len(e.External.Endpoints) == 0)
}

// EtcdClientPort and EtcdPeerPort are where the members of an etcd
// cluster kubeha builds listen (kubeadm's defaults).
const (
	EtcdClientPort = 2379
	EtcdPeerPort   = 2380
)

// EtcdEndpoints are the client URLs of an external etcd: the operator's,
// or those of the members kubeha builds, one per etcd host at its internal
// address. Nil with stacked etcd.
func (c *Cluster) EtcdEndpoints() []string {
	if c.Spec.Etcd.Topology != EtcdExternal {
		return nil
	}
	if !c.BuildsEtcd() {
		return c.Spec.Etcd.External.Endpoints
	}
	var out []string
	for _, h := range c.EtcdHosts() {
		out = append(out, "https://"+net.JoinHostPort(h.InternalAddress, strconv.Itoa(EtcdClientPort)))
	}
	return out
}

// Host returns the host with the given name.
func (c *Cluster) Host(name string) (Host, bool) {
	for _, h := range c.Spec.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// HostNames returns every host's name, in inventory order.
func (c *Cluster) HostNames() []string {
	names := make([]string, 0, len(c.Spec.Hosts))
	for _, h := range c.Spec.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// SSHUser is the user the inventory says kubeha logs in to h as: h's own
// ssh.user, else spec.ssh.user, else "" (left to ~/.ssh/config, then
// root, when kubeha connects).
func (c *Cluster) SSHUser(h Host) string {
	if h.SSH != nil && h.SSH.User != "" {
		return h.SSH.User
	}
	return c.Spec.SSH.User
}

// LBHosts returns the hosts that run the VIP-holding load balancer for the
// keepalived-haproxy and kube-vip modes: the masters or the dedicated hosts.
func (c *Cluster) LBHosts() []Host {
	if c.Spec.LoadBalancer.Placement == PlacementDedicated {
		return c.LoadBalancers()
	}
	return c.Masters()
}

func (c *Cluster) hostsWithRole(role string) []Host {
	var out []Host
	for _, h := range c.Spec.Hosts {
		if h.Role == role {
			out = append(out, h)
		}
	}
	return out
}

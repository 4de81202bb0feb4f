package kubeadm

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/inventory"
)

// Paths on the hosts.
const (
	ConfigDir      = "/etc/kubeha"
	InitConfigPath = ConfigDir + "/kubeadm-init.yaml"
	JoinConfigPath = ConfigDir + "/kubeadm-join.yaml"
	CRISocket      = "unix:///run/containerd/containerd.sock"
	// AdminConfPath is the admin kubeconfig kubeadm makes on every master
	// (a cluster-admin client certificate and key, renewed by kubeadm certs
	// renew and kubeadm upgrade).
	AdminConfPath = "/etc/kubernetes/admin.conf"
	// ExternalEtcdPKI is where kubeha puts, on every master, the files of
	// the apiservers' client of an external etcd: the etcd CA's
	// certificate and a client certificate and key it signed. The
	// ClusterConfiguration names them (Cluster), so kubeadm init reads
	// them there and uploads them for control-plane joins.
	ExternalEtcdPKI    = "/etc/kubernetes/pki/external-etcd"
	ExternalEtcdCAFile = ExternalEtcdPKI + "/ca.crt"
	ExternalEtcdCert   = ExternalEtcdPKI + "/client.crt"
	ExternalEtcdKey    = ExternalEtcdPKI + "/client.key"
	// GoawayChance makes the apiserver ask a small share of HTTP/2 clients
	// to reconnect, so long-lived connections spread again after an
	// apiserver restart instead of piling onto the survivors (seed 002).
	GoawayChance = "0.001"
	// ShutdownDelay keeps a stopping apiserver serving while its /readyz
	// already fails, so the load balancers' health checks take it out
	// before it stops accepting (an upgrade or certificate renewal restarts
	// each apiserver in turn). It must exceed the load balancer's detection
	// time (lb.DetectSeconds: 1.5 s) and stay well inside the static pod's
	// 30 s termination grace period.
	ShutdownDelay = "5s"
)

// Secrets are the join credentials a config carries. kubeha generates them
// before kubeadm runs, so nothing secret is ever scraped from output.
type Secrets struct {
	Token          string // bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}
	CertificateKey string // 64 hex characters
	CACertHash     string // sha256:<hex> of the cluster CA's public key
}

// Placeholders are well-formed stand-ins for `kubeha render`.
var Placeholders = Secrets{
	Token:          "abcdef.0123456789abcdef",
	CertificateKey: strings.Repeat("0", 64),
	CACertHash:     "sha256:" + strings.Repeat("0", 64),
}

// Endpoint is controlPlaneEndpoint: the endpoint name and port.
func Endpoint(c *inventory.Cluster) string {
	ep := c.Spec.ControlPlaneEndpoint
	return net.JoinHostPort(ep.Name, strconv.Itoa(ep.Port))
}

// CertSANs are the apiserver certificate's extra names: the endpoint name,
// the VIP or SLB address, and every master's addresses. A missing one is the
// x509 error of seed 002.
func CertSANs(c *inventory.Cluster) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(c.Spec.ControlPlaneEndpoint.Name)
	add(c.Spec.LoadBalancer.VIP)
	add(c.Spec.LoadBalancer.Address)
	add("127.0.0.1")
	add("localhost")
	for _, m := range c.Masters() {
		add(m.Address)
		add(m.InternalAddress)
	}
	for _, s := range c.Spec.Kubeadm.APIServerCertSANs {
		add(s)
	}
	return out
}

// args turns a map into sorted Args, with over's values replacing base's.
func args(base, over map[string]string) []Arg {
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, over)
	keys := slices.Sorted(maps.Keys(m))
	out := make([]Arg, 0, len(keys))
	for _, k := range keys {
		out = append(out, Arg{Name: k, Value: m[k]})
	}
	return out
}

func nodeRegistration(c *inventory.Cluster, h inventory.Host) NodeRegistration {
	ignore := c.Spec.Kubeadm.IgnorePreflightErrors
	lbPods := c.Spec.LoadBalancer.StaticPods || c.Spec.LoadBalancer.Mode == inventory.ModeKubeVIP
	if lbPods && h.Role == inventory.RoleMaster && !slices.Contains(ignore, manifestsDirCheck) {
		// The load balancer's static pods (keepalived and haproxy, or
		// kube-vip) are in the manifests directory before kubeadm runs (the
		// kubelet must start them with the control plane, or the endpoint
		// never answers), and kubeadm insists on an empty one.
		ignore = append(slices.Clone(ignore), manifestsDirCheck)
	}
	return NodeRegistration{
		Name:                  h.Name,
		CRISocket:             CRISocket,
		KubeletExtraArgs:      args(map[string]string{"node-ip": h.InternalAddress}, c.Spec.Kubeadm.KubeletExtraArgs),
		IgnorePreflightErrors: ignore,
	}
}

// manifestsDirCheck is kubeadm's preflight check that the static-pod
// manifests directory is empty.
const manifestsDirCheck = "DirAvailable--etc-kubernetes-manifests"

// Cluster returns the ClusterConfiguration of c.
func Cluster(c *inventory.Cluster) ClusterConfiguration {
	cc := ClusterConfiguration{
		APIVersion:           APIVersion,
		Kind:                 "ClusterConfiguration",
		ClusterName:          c.Metadata.Name,
		KubernetesVersion:    c.Spec.KubernetesVersion,
		ControlPlaneEndpoint: Endpoint(c),
		Networking: Networking{
			PodSubnet:     c.Spec.Network.PodSubnet,
			ServiceSubnet: c.Spec.Network.ServiceSubnet,
			DNSDomain:     c.Spec.Network.DNSDomain,
		},
		APIServer: APIServer{
			ExtraArgs: args(map[string]string{"goaway-chance": GoawayChance, "shutdown-delay-duration": ShutdownDelay}, c.Spec.Kubeadm.APIServerExtraArgs),
			CertSANs:  CertSANs(c),
		},
	}
	if c.Spec.Etcd.Topology == inventory.EtcdExternal {
		cc.Etcd = &Etcd{External: &ExternalEtcd{
			Endpoints: c.EtcdEndpoints(),
			CAFile:    ExternalEtcdCAFile,
			CertFile:  ExternalEtcdCert,
			KeyFile:   ExternalEtcdKey,
		}}
	}
	return cc
}

// EtcdMemberConfigPath is where an etcd host keeps its member's config.
const EtcdMemberConfigPath = ConfigDir + "/kubeadm-etcd.yaml"

// EtcdMemberConfig renders the config that `kubeadm init phase certs
// etcd-ca|etcd-server|etcd-peer|etcd-healthcheck-client|apiserver-etcd-client
// --config` and `kubeadm init phase etcd local --config` take on etcd host
// h of the etcd cluster kubeha builds (kubeadm's guide "Set up a High
// Availability etcd cluster with kubeadm"): the member is named after h and
// advertises its internal address, where its certificates are valid, and
// starts as one of a new cluster of every etcd host. kubeadm derives the
// rest of the member's URLs from the advertise address (clients on it and
// 127.0.0.1:2379, peers on it:2380, metrics on 127.0.0.1:2381). The
// Kubernetes version is set so that kubeadm picks its etcd image without
// asking the network.
func EtcdMemberConfig(c *inventory.Cluster, h inventory.Host) ([]byte, error) {
	var initial []string
	for _, m := range c.EtcdHosts() {
		initial = append(initial, m.Name+"=https://"+net.JoinHostPort(m.InternalAddress, strconv.Itoa(inventory.EtcdPeerPort)))
	}
	init := InitConfiguration{
		APIVersion:       APIVersion,
		Kind:             "InitConfiguration",
		NodeRegistration: NodeRegistration{Name: h.Name, CRISocket: CRISocket},
		LocalAPIEndpoint: APIEndpoint{AdvertiseAddress: h.InternalAddress},
	}
	cc := ClusterConfiguration{
		APIVersion:        APIVersion,
		Kind:              "ClusterConfiguration",
		ClusterName:       c.Metadata.Name,
		KubernetesVersion: c.Spec.KubernetesVersion,
		Etcd: &Etcd{Local: &LocalEtcd{
			ServerCertSANs: []string{h.InternalAddress},
			PeerCertSANs:   []string{h.InternalAddress},
			ExtraArgs: []Arg{
				{Name: "initial-cluster", Value: strings.Join(initial, ",")},
				{Name: "initial-cluster-state", Value: "new"},
			},
		}},
	}
	return marshalDocs(init, cc)
}

// EtcdKubeletConfigPath is where an etcd host keeps its standalone
// kubelet's configuration (EtcdKubeletConfig).
const EtcdKubeletConfigPath = ConfigDir + "/etcd-kubelet.yaml"

// EtcdKubeletConfig renders the KubeletConfiguration of an etcd host's
// kubelet, which runs standalone (no apiserver, no kubeconfig) and starts
// the static pods in /etc/kubernetes/manifests: the etcd member. The
// inventory's kubeletConfiguration is merged over kubeha's, as on the
// nodes (cgroup driver, eviction, swap), except for what keeps this kubelet
// safe, which is set last: as kubeadm's guide has it, it authenticates and
// authorises no one (there is no apiserver to ask), so anyone who reached
// its port could exec into the etcd pod and read the member's keys. It
// therefore listens on 127.0.0.1 only, its read-only port and healthz
// included.
func EtcdKubeletConfig(c *inventory.Cluster) ([]byte, error) {
	base := map[string]any{
		"apiVersion":   "kubelet.config.k8s.io/v1beta1",
		"kind":         "KubeletConfiguration",
		"cgroupDriver": "systemd",
	}
	cfg := merge(base, c.Spec.Kubeadm.KubeletConfiguration)
	for k, v := range map[string]any{
		"authentication":           map[string]any{"anonymous": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": false}},
		"authorization":            map[string]any{"mode": "AlwaysAllow"},
		"address":                  "127.0.0.1",
		"healthzBindAddress":       "127.0.0.1",
		"readOnlyPort":             0,
		"containerRuntimeEndpoint": CRISocket,
		"staticPodPath":            "/etc/kubernetes/manifests",
	} {
		cfg[k] = v
	}
	return marshalDocs(sortedMap(cfg))
}

// KubeletConfig is the KubeletConfiguration document: kubeha sets nothing
// of its own beyond the type, the inventory's kubeletConfiguration is merged
// over it.
func KubeletConfig(c *inventory.Cluster) map[string]any {
	base := map[string]any{"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}
	return merge(base, c.Spec.Kubeadm.KubeletConfiguration)
}

// KubeProxyConfig is the KubeProxyConfiguration document: the inventory's
// mode; for ipvs strictARP (so ARP for Service IPs stays correct) and the
// VIP excluded from IPVS cleanup; then the inventory's
// kubeProxyConfiguration merged over it.
func KubeProxyConfig(c *inventory.Cluster) map[string]any {
	base := map[string]any{
		"apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
		"kind":       "KubeProxyConfiguration",
		"mode":       c.Spec.Network.KubeProxyMode,
	}
	if c.Spec.Network.KubeProxyMode == inventory.ProxyModeIPVS {
		ipvs := map[string]any{"strictARP": true}
		if vip := c.Spec.LoadBalancer.VIP; vip != "" {
			ipvs["excludeCIDRs"] = []any{vip + "/32"}
		}
		base["ipvs"] = ipvs
	}
	return merge(base, c.Spec.Kubeadm.KubeProxyConfiguration)
}

// merge returns base with over merged in: nested maps key by key, anything
// else replaced.
func merge(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// TokenDescription marks the bootstrap tokens kubeha creates, so that a
// run can delete them all as it ends, a killed run's included.
const TokenDescription = "made by kubeha for joins; deleted when the run ends"

// bootstrapToken is a join token valid for the 2 h kubeha plans with.
func bootstrapToken(token string) BootstrapToken {
	return BootstrapToken{
		Token:       token,
		Description: TokenDescription,
		TTL:         "2h0m0s",
		Usages:      []string{"signing", "authentication"},
		Groups:      []string{"system:bootstrappers:kubeadm:default-node-token"},
	}
}

// InitConfig renders the multi-document config of `kubeadm init` on the
// first master.
func InitConfig(c *inventory.Cluster, first inventory.Host, s Secrets) ([]byte, error) {
	init := InitConfiguration{
		APIVersion:       APIVersion,
		Kind:             "InitConfiguration",
		BootstrapTokens:  []BootstrapToken{bootstrapToken(s.Token)},
		NodeRegistration: nodeRegistration(c, first),
		LocalAPIEndpoint: APIEndpoint{AdvertiseAddress: first.InternalAddress, BindPort: inventory.APIServerPort},
		CertificateKey:   s.CertificateKey,
	}
	return marshalDocs(init, Cluster(c), sortedMap(KubeletConfig(c)), sortedMap(KubeProxyConfig(c)))
}

// CredentialsConfig renders the config that hands join credentials to
// `kubeadm token create --config` (s.Token, when set) and `kubeadm init
// phase upload-certs --config` (s.CertificateKey, when set), so neither
// appears on a command line. It carries the cluster's ClusterConfiguration:
// upload-certs uploads the certificates that configuration names.
func CredentialsConfig(c *inventory.Cluster, cp inventory.Host, s Secrets) ([]byte, error) {
	init := InitConfiguration{
		APIVersion:       APIVersion,
		Kind:             "InitConfiguration",
		NodeRegistration: nodeRegistration(c, cp),
		LocalAPIEndpoint: APIEndpoint{AdvertiseAddress: cp.InternalAddress, BindPort: inventory.APIServerPort},
		CertificateKey:   s.CertificateKey,
	}
	if s.Token != "" {
		init.BootstrapTokens = []BootstrapToken{bootstrapToken(s.Token)}
	}
	return marshalDocs(init, Cluster(c))
}

// JoinConfig renders `kubeadm join`'s config for h; controlPlane makes it a
// control-plane join.
func JoinConfig(c *inventory.Cluster, h inventory.Host, s Secrets, controlPlane bool) ([]byte, error) {
	j := JoinConfiguration{
		APIVersion:       APIVersion,
		Kind:             "JoinConfiguration",
		NodeRegistration: nodeRegistration(c, h),
		Discovery: Discovery{BootstrapToken: BootstrapTokenDiscovery{
			APIServerEndpoint: Endpoint(c),
			Token:             s.Token,
			CACertHashes:      []string{s.CACertHash},
		}},
	}
	if controlPlane {
		j.ControlPlane = &JoinControlPlane{
			LocalAPIEndpoint: APIEndpoint{AdvertiseAddress: h.InternalAddress, BindPort: inventory.APIServerPort},
			CertificateKey:   s.CertificateKey,
		}
	}
	return marshalDocs(j)
}

// sortedMap is a map that marshals with apiVersion and kind first, then the
// other keys sorted, so rendered documents read like kubeadm's own.
type sortedMap map[string]any

func (m sortedMap) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	keys := slices.Sorted(maps.Keys(m))
	sort.SliceStable(keys, func(i, j int) bool { return rank(keys[i]) < rank(keys[j]) })
	for _, k := range keys {
		var v yaml.Node
		if err := v.Encode(m[k]); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &v)
	}
	return n, nil
}

func rank(k string) int {
	switch k {
	case "apiVersion":
		return 0
	case "kind":
		return 1
	}
	return 2
}

func marshalDocs(docs ...any) ([]byte, error) {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("render kubeadm config: %w", err)
		}
		enc.Close()
	}
	return b.Bytes(), nil
}

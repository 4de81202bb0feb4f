package kubeadm

// Typed copies of the kubeadm.k8s.io/v1beta4 fields kubeha sets. They are
// copies, not imports of k8s.io/kubernetes/cmd/kubeadm/app/apis: that module
// pulls about 0.75 GB of dependencies into kubeha's build for a handful of
// structs. Field names and YAML keys follow v1beta4 exactly, and every
// rendered config is checked by the real `kubeadm config validate` in tests,
// which rejects unknown fields, so a wrong copy cannot go unnoticed.

// APIVersion is the kubeadm config API kubeha renders.
const APIVersion = "kubeadm.k8s.io/v1beta4"

// Arg is one command-line argument (v1beta4 uses ordered lists).
type Arg struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// InitConfiguration is kubeadm init's node-local part.
type InitConfiguration struct {
	APIVersion       string           `yaml:"apiVersion"`
	Kind             string           `yaml:"kind"`
	BootstrapTokens  []BootstrapToken `yaml:"bootstrapTokens,omitempty"`
	NodeRegistration NodeRegistration `yaml:"nodeRegistration"`
	LocalAPIEndpoint APIEndpoint      `yaml:"localAPIEndpoint"`
	CertificateKey   string           `yaml:"certificateKey,omitempty"`
}

// BootstrapToken is a join token kubeadm init creates.
type BootstrapToken struct {
	Token       string   `yaml:"token"`
	Description string   `yaml:"description,omitempty"`
	TTL         string   `yaml:"ttl,omitempty"`
	Usages      []string `yaml:"usages,omitempty"`
	Groups      []string `yaml:"groups,omitempty"`
}

// NodeRegistration says how a node registers with the cluster.
type NodeRegistration struct {
	Name                  string   `yaml:"name,omitempty"`
	CRISocket             string   `yaml:"criSocket,omitempty"`
	KubeletExtraArgs      []Arg    `yaml:"kubeletExtraArgs,omitempty"`
	IgnorePreflightErrors []string `yaml:"ignorePreflightErrors,omitempty"`
}

// APIEndpoint is one apiserver's own address.
type APIEndpoint struct {
	AdvertiseAddress string `yaml:"advertiseAddress,omitempty"`
	BindPort         int    `yaml:"bindPort,omitempty"`
}

// ClusterConfiguration is the cluster-wide part.
type ClusterConfiguration struct {
	APIVersion           string           `yaml:"apiVersion"`
	Kind                 string           `yaml:"kind"`
	ClusterName          string           `yaml:"clusterName,omitempty"`
	KubernetesVersion    string           `yaml:"kubernetesVersion"`
	ControlPlaneEndpoint string           `yaml:"controlPlaneEndpoint"`
	Networking           Networking       `yaml:"networking"`
	APIServer            APIServer        `yaml:"apiServer,omitempty"`
	ControllerManager    ControlPlaneComp `yaml:"controllerManager,omitempty"`
	Etcd                 *Etcd            `yaml:"etcd,omitempty"`
}

// Networking holds the cluster CIDRs.
type Networking struct {
	PodSubnet     string `yaml:"podSubnet,omitempty"`
	ServiceSubnet string `yaml:"serviceSubnet,omitempty"`
	DNSDomain     string `yaml:"dnsDomain,omitempty"`
}

// APIServer configures kube-apiserver.
type APIServer struct {
	ExtraArgs []Arg    `yaml:"extraArgs,omitempty"`
	CertSANs  []string `yaml:"certSANs,omitempty"`
}

// ControlPlaneComp configures a control-plane component.
type ControlPlaneComp struct {
	ExtraArgs []Arg `yaml:"extraArgs,omitempty"`
}

// Etcd is stacked (Local) or an external cluster.
type Etcd struct {
	Local    *LocalEtcd    `yaml:"local,omitempty"`
	External *ExternalEtcd `yaml:"external,omitempty"`
}

// LocalEtcd is an etcd kubeadm runs as a static pod: on each master
// (stacked), or on an etcd host of an external cluster kubeha builds.
type LocalEtcd struct {
	DataDir        string   `yaml:"dataDir,omitempty"`
	ExtraArgs      []Arg    `yaml:"extraArgs,omitempty"`
	ServerCertSANs []string `yaml:"serverCertSANs,omitempty"`
	PeerCertSANs   []string `yaml:"peerCertSANs,omitempty"`
}

// ExternalEtcd is an etcd cluster kubeha does not run.
type ExternalEtcd struct {
	Endpoints []string `yaml:"endpoints"`
	CAFile    string   `yaml:"caFile"`
	CertFile  string   `yaml:"certFile"`
	KeyFile   string   `yaml:"keyFile"`
}

// JoinConfiguration is kubeadm join's config.
type JoinConfiguration struct {
	APIVersion       string            `yaml:"apiVersion"`
	Kind             string            `yaml:"kind"`
	NodeRegistration NodeRegistration  `yaml:"nodeRegistration"`
	Discovery        Discovery         `yaml:"discovery"`
	ControlPlane     *JoinControlPlane `yaml:"controlPlane,omitempty"`
}

// Discovery is how a joining node finds and trusts the cluster.
type Discovery struct {
	BootstrapToken BootstrapTokenDiscovery `yaml:"bootstrapToken"`
}

// BootstrapTokenDiscovery pins the cluster CA by hash.
type BootstrapTokenDiscovery struct {
	APIServerEndpoint string   `yaml:"apiServerEndpoint"`
	Token             string   `yaml:"token"`
	CACertHashes      []string `yaml:"caCertHashes"`
}

// JoinControlPlane makes a join a control-plane join.
type JoinControlPlane struct {
	LocalAPIEndpoint APIEndpoint `yaml:"localAPIEndpoint"`
	CertificateKey   string      `yaml:"certificateKey"`
}

package lb

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// kube-vip (seed 003), set up the way kube-vip's own documentation does it
// for kubeadm (`kube-vip manifest pod --controlplane --arp
// --leaderElection`): a static pod on every master; the one whose kube-vip
// holds the Lease KubeVIPLeaseName in kube-system puts the VIP on its
// interface and answers ARP for it. kube-vip's IPVS balancer (lb_enable)
// stays off, as it needs ip_vs on the masters: the VIP forwards nothing,
// and a client of the VIP reaches the holder's own apiserver, which is why
// the endpoint port is the apiserver's (inventory.Validate).
const (
	// KubeVIPManifestPath is kube-vip's manifest. The kubeha- prefix keeps
	// it through the kubeadm reset of an interrupted init or join
	// (scripts/templates/lib/kubeadm.sh.tmpl, reset-keeping-lb).
	KubeVIPManifestPath = "/etc/kubernetes/manifests/kubeha-kube-vip.yaml"
	// AdminConf is the kubeconfig kubeadm writes on every control-plane
	// node. Since Kubernetes 1.29 its user is bound to cluster-admin only
	// once kubeadm init has finished (kube-vip issue 684).
	AdminConf = "/etc/kubernetes/admin.conf"
	// SuperAdminConf is the kubeconfig kubeadm init writes on the first
	// master only, whose user is cluster-admin from the start: kube-vip
	// needs it there to take its Lease while init is still running.
	SuperAdminConf = "/etc/kubernetes/super-admin.conf"
	// kubeVIPPodKubeconfig is where kube-vip reads its kubeconfig inside
	// the pod, whichever host file is mounted there. kube-vip points a
	// kubeconfig at that path to the server "kubernetes:<port>", which the
	// pod's hostAliases resolve to 127.0.0.1: its own master's apiserver,
	// not the VIP it is about to hold.
	kubeVIPPodKubeconfig = "/etc/kubernetes/admin.conf"
	// KubeVIPPodName is kube-vip's pod's name in its manifest: kube-vip's
	// own (kube-vip-<node> in kubectl), the one its documentation and
	// operators look for; the manifest's file keeps the kubeha- prefix.
	KubeVIPPodName = "kube-vip"
	// KubeVIPLeaseName is the Lease the masters' kube-vips elect the VIP
	// holder with, kube-vip's default.
	KubeVIPLeaseName = "plndr-cp-lock"
	// KubeVIPMetrics is where kube-vip serves Prometheus metrics, its
	// default.
	KubeVIPMetrics = ":2112"
)

// Leader election timing, in seconds, as kube-vip's documentation and its
// own end-to-end tests set them: a holder that stops renewing loses the VIP
// after at most KubeVIPLeaseDuration, and another master takes it within
// KubeVIPRetryPeriod after that. (kube-vip's defaults, 15/10/2, would cost
// up to 17 s of VIP per failover.)
const (
	KubeVIPLeaseDuration = 5
	KubeVIPRenewDeadline = 3
	KubeVIPRetryPeriod   = 1
)

// Stage is how far kubeadm has got with the cluster, as far as the load
// balancer's files depend on it.
type Stage int

const (
	// BeforeInit: no master is a control-plane node yet. The first master
	// is about to run kubeadm init, and its kube-vip reads
	// super-admin.conf, the only kubeconfig that works during init.
	BeforeInit Stage = iota
	// Initialised: the cluster exists; every kube-vip reads admin.conf,
	// which kubeadm keeps on every master and renews.
	Initialised
)

// KubeVIP is one master's kube-vip static pod.
type KubeVIP struct {
	Image     string
	Interface string // where the VIP goes: the one holding the master's internal address
	VIP       string
	// Port is the apiserver's, which kube-vip reaches on 127.0.0.1.
	Port int
	// Kubeconfig is the host file kube-vip reads as its kubeconfig:
	// AdminConf, or SuperAdminConf on the first master during init.
	Kubeconfig string
}

// The parts of a v1 Pod kube-vip's manifest uses, with the v1 API's field
// names (the tests check them against Kubernetes' OpenAPI schema).
type (
	podManifest struct {
		APIVersion string      `yaml:"apiVersion"`
		Kind       string      `yaml:"kind"`
		Metadata   podMetadata `yaml:"metadata"`
		Spec       podSpec     `yaml:"spec"`
	}
	podMetadata struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	podSpec struct {
		Containers        []podContainer `yaml:"containers"`
		HostAliases       []hostAlias    `yaml:"hostAliases,omitempty"`
		HostNetwork       bool           `yaml:"hostNetwork"`
		PriorityClassName string         `yaml:"priorityClassName"`
		Volumes           []podVolume    `yaml:"volumes"`
	}
	podContainer struct {
		Name            string          `yaml:"name"`
		Image           string          `yaml:"image"`
		ImagePullPolicy string          `yaml:"imagePullPolicy"`
		Args            []string        `yaml:"args"`
		Env             []envVar        `yaml:"env"`
		SecurityContext securityContext `yaml:"securityContext"`
		VolumeMounts    []volumeMount   `yaml:"volumeMounts"`
	}
	envVar struct {
		Name      string     `yaml:"name"`
		Value     string     `yaml:"value,omitempty"`
		ValueFrom *envSource `yaml:"valueFrom,omitempty"`
	}
	envSource struct {
		FieldRef struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	}
	securityContext struct {
		Capabilities struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	}
	volumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	}
	hostAlias struct {
		IP        string   `yaml:"ip"`
		Hostnames []string `yaml:"hostnames"`
	}
	podVolume struct {
		Name     string `yaml:"name"`
		HostPath struct {
			Path string `yaml:"path"`
			Type string `yaml:"type"`
		} `yaml:"hostPath"`
	}
)

// env is kube-vip's configuration, by the environment variables kube-vip
// v1.2.3 reads (pkg/kubevip/config_envvar.go), in the order `kube-vip
// manifest pod` writes them.
func (k KubeVIP) env() ([]envVar, error) {
	vip, err := netip.ParseAddr(k.VIP)
	if err != nil {
		return nil, fmt.Errorf("kube-vip: VIP %q: %w", k.VIP, err)
	}
	// The VIP alone, as kube-vip derives it from an address: /32 or /128.
	subnet := strconv.Itoa(vip.BitLen())
	nodeName := &envSource{}
	nodeName.FieldRef.FieldPath = "spec.nodeName"
	return []envVar{
		{Name: "vip_arp", Value: "true"},
		{Name: "port", Value: strconv.Itoa(k.Port)},
		{Name: "vip_nodename", ValueFrom: nodeName},
		{Name: "vip_interface", Value: k.Interface},
		{Name: "vip_subnet", Value: subnet},
		{Name: "cp_enable", Value: "true"},
		{Name: "cp_namespace", Value: "kube-system"},
		{Name: "vip_leaderelection", Value: "true"},
		{Name: "vip_leasename", Value: KubeVIPLeaseName},
		{Name: "vip_leaseduration", Value: strconv.Itoa(KubeVIPLeaseDuration)},
		{Name: "vip_renewdeadline", Value: strconv.Itoa(KubeVIPRenewDeadline)},
		{Name: "vip_retryperiod", Value: strconv.Itoa(KubeVIPRetryPeriod)},
		{Name: "address", Value: vip.String()},
		{Name: "prometheus_server", Value: KubeVIPMetrics},
	}, nil
}

// Render is the manifest: a v1 Pod on the host network in kube-system,
// labelled and annotated like kubeha's other static pods. Its config hash
// covers the whole pod, kubeconfig path included, so it changes exactly
// when the manifest does; the same KubeVIP renders the same bytes.
func (k KubeVIP) Render() ([]byte, error) {
	if k.Image == "" || k.Interface == "" || k.Port == 0 || k.Kubeconfig == "" {
		return nil, fmt.Errorf("kube-vip: image, interface, port and kubeconfig are all needed: %+v", k)
	}
	env, err := k.env()
	if err != nil {
		return nil, err
	}
	const name = KubeVIPPodName
	c := podContainer{
		Name: name, Image: k.Image, ImagePullPolicy: "IfNotPresent",
		// The image's entrypoint is kube-vip.
		Args:         []string{"manager"},
		Env:          env,
		VolumeMounts: []volumeMount{{Name: "kubeconfig", MountPath: kubeVIPPodKubeconfig, ReadOnly: true}},
	}
	// The VIP's powers and nothing else: kube-vip runs as root, the owner
	// of the 0600 kubeconfig, so it needs no capability to read it.
	c.SecurityContext.Capabilities.Add = []string{"NET_ADMIN", "NET_RAW"}
	c.SecurityContext.Capabilities.Drop = []string{"ALL"}
	v := podVolume{Name: "kubeconfig"}
	// type File: the kubelet waits for the file rather than make a
	// directory where kubeadm is about to write the kubeconfig.
	v.HostPath.Path, v.HostPath.Type = k.Kubeconfig, "File"
	p := podManifest{
		APIVersion: "v1", Kind: "Pod",
		Metadata: podMetadata{Name: name, Namespace: "kube-system",
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kubeha", "component": name}},
		Spec: podSpec{
			Containers:        []podContainer{c},
			HostAliases:       []hostAlias{{IP: "127.0.0.1", Hostnames: []string{"kubernetes"}}},
			HostNetwork:       true,
			PriorityClassName: "system-node-critical",
			Volumes:           []podVolume{v},
		},
	}
	spec, err := yaml.Marshal(p.Spec)
	if err != nil {
		return nil, err
	}
	p.Metadata.Annotations = map[string]string{"kubeha.io/config-hash": configHash(spec)}
	var b bytes.Buffer
	b.WriteString("# Managed by kubeha (kube-vip, static pod); changes are overwritten by `kubeha apply`.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

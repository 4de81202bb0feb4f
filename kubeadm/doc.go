// Package kubeadm renders kubeadm's InitConfiguration, ClusterConfiguration
// and JoinConfiguration (kubeadm.k8s.io/v1beta4) with the KubeletConfiguration
// and KubeProxyConfiguration, from typed values, and is checked by the real
// `kubeadm config validate`. Nothing is rendered here yet: the kubeadm phases
// arrive with their issue.
package kubeadm

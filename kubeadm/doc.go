// Package kubeadm renders what kubeha hands the real kubeadm, in
// kubeadm.k8s.io/v1beta4 from typed copies of its types (types.go):
// InitConfig for `kubeadm init` on the first master, with the
// ClusterConfiguration, KubeletConfiguration and KubeProxyConfiguration;
// JoinConfig for every other master and worker; and CredentialsConfig,
// which gives `kubeadm token create` and `kubeadm init phase upload-certs`
// a new token or certificate key off the command line. The join
// credentials come in as Secrets, generated before kubeadm runs. It also
// answers what the phases share with those configs: the control-plane
// endpoint and the apiserver certificate's extra names. Golden files pin
// the output, and the real `kubeadm config validate` checks it.
package kubeadm

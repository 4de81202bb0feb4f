// Package lb renders the API load balancer's files for each host that runs
// one. keepalived-haproxy gets haproxy.cfg, keepalived.conf and its
// check_apiserver.sh on every VIP holder, plus, with
// spec.loadBalancer.staticPods, the kubelet manifests that run both;
// kube-vip gets its static-pod manifest on every master (ARP, leader
// election, the control-plane VIP; the first master's reads
// super-admin.conf until kubeadm init has finished, see Stage);
// local-proxy gets haproxy.cfg or nginx.conf on every node that needs it.
// Derive computes them all from the inventory, the interfaces the facts
// phase found, the generated secrets and the stage, and is pure, so a
// rerun compares hashes and changes nothing. Configs are typed structs
// through text/template (templates/), manifests typed data through YAML;
// golden files pin them and the real programs check them (haproxy -c,
// keepalived -t, nginx -t, sh -n; manifests against Kubernetes' OpenAPI
// schema, kube-vip's environment against the variables kube-vip reads).
// kube-vip's manifest has run on machines (e2e TestKubeVIP). An external
// load balancer has no files here: it needs nothing on the hosts.
package lb

// Package lb renders the API load balancer's files for each host that runs
// one. keepalived-haproxy gets haproxy.cfg, keepalived.conf and its
// check_apiserver.sh on every VIP holder, plus, with
// spec.loadBalancer.staticPods, the kubelet manifests that run both;
// local-proxy gets haproxy.cfg or nginx.conf on every node that needs it.
// Derive computes them all from the inventory, the interfaces the facts
// phase found and the generated secrets, and is pure, so a rerun compares
// hashes and changes nothing. Configs are typed structs through
// text/template (templates/), manifests typed data through YAML; golden
// files pin them and the real programs check them (haproxy -c,
// keepalived -t, nginx -t, sh -n). kube-vip and external have no files
// here: the load-balancer phase refuses kube-vip as not supported, and an
// external load balancer needs nothing on the hosts.
package lb

// Package lb renders the API load balancer's files (haproxy.cfg,
// keepalived.conf and its check script, nginx.conf, the kube-vip and static
// pod manifests) from typed structs through text/template, one Derive step
// per mode. Rendered files have golden tests and are checked by the real
// programs (haproxy -c, keepalived -t, nginx -t). Nothing is rendered here
// yet: the load-balancer phase arrives with its issue.
package lb

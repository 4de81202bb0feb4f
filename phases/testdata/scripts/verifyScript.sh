kh_remove=''
kc=/etc/kubernetes/admin.conf
trap 'rm -f $kh_remove' EXIT
k() { kubectl --kubeconfig "$kc" --request-timeout '20s' "$@"; }
notready='' pending=''
settled() {
  notready=$(k get nodes --no-headers | awk '$2 != "Ready" {print $1}')
  pending=$(k -n kube-system get pods --no-headers | awk '$3 != "Running" && $3 != "Completed" {print $1}')
  [ -z "$notready$pending" ]
}
if ! wait_until 180 'cluster not settled' settled; then
  echo "not Ready: nodes [$notready] kube-system pods [$pending]" >&2
  exit 1
fi
echo "nodes: $(k get nodes --no-headers | wc -l) Ready"
pod='etcd-10.0.0.1'
# e runs etcdctl in the etcd pod named $pod, against that master's own
# member, with the certificates kubeadm made for it. It is a function, not
# a command string split at its spaces, so no value is split or globbed.
e() {
  k -n kube-system exec "$pod" -- etcdctl --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt \
    --key=/etc/kubernetes/pki/etcd/server.key "$@"
}
members=$(e member list | wc -l)
if [ "$members" != 1 ]; then
  echo "etcd has $members members, want 1 (one per master)" >&2
  exit 1
fi
echo "etcd: $members members"
curl -sfk --max-time 3 -o /dev/null 'https://10.0.0.1:6443/readyz' || { echo 'apiserver on 10.0.0.1 not ready' >&2; exit 1; }


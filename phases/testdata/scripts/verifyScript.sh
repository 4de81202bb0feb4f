set -e
k="kubectl --kubeconfig /etc/kubernetes/admin.conf"
i=0; while :; do
  notready=$($k get nodes --no-headers | awk '$2 != "Ready" {print $1}')
  pending=$($k -n kube-system get pods --no-headers | awk '$3 != "Running" && $3 != "Completed" {print $1}')
  [ -z "$notready$pending" ] && break
  i=$((i+1)); if [ $i -ge 180 ]; then echo "not Ready after 180s: nodes [$notready] kube-system pods [$pending]" >&2; exit 1; fi
  sleep 1
done
echo "nodes: $($k get nodes --no-headers | wc -l) Ready"
members=$($k -n kube-system exec 'etcd-10.0.0.1' -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key member list | wc -l)
[ "$members" = 2 ] || { echo "etcd has $members members, want 2 (one per master)" >&2; exit 1; }
echo "etcd: $members members"
curl -sfk --max-time 3 'https://10.0.0.1:6443/readyz' >/dev/null || { echo 'apiserver on 10.0.0.1 not ready' >&2; exit 1; }
curl -sfk --max-time 3 'https://10.0.0.1:6443/readyz' >/dev/null || { echo 'apiserver on 10.0.0.1 not ready' >&2; exit 1; }

pod='etcd-10.0.0.1' node='10.0.0.1'
e() { kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout 20s -n kube-system exec "$pod" -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key "$@"; }
id=$(e member list | awk -F', ' -v u='https://10.0.0.1:2380' '$4 == u {print $1}')
if [ -n "$id" ]; then e member remove "$id" >/dev/null; echo "removed etcd member $id, left by the interrupted join of $node"; fi
kh_remove=''
kc=$(mktemp)
trap 'rm -f "$kc" $kh_remove' EXIT
server='https://10.0.0.1:6443' awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
k() { kubectl --kubeconfig "$kc" --request-timeout '20s' "$@"; }
pod='10.0.0.1'
# e runs etcdctl in the etcd pod named $pod, against that master's own
# member, with the certificates kubeadm made for it. It is a function, not
# a command string split at its spaces, so no value is split or globbed.
e() {
  k -n kube-system exec "$pod" -- etcdctl --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt \
    --key=/etc/kubernetes/pki/etcd/server.key "$@"
}
id=$(e member list | awk -F', ' -v u='10.0.0.1' '$4 == u {print $1}')
if [ -n "$id" ]; then
  e member remove "$id" >/dev/null
  echo "removed etcd member $id, left by the interrupted join of "'10.0.0.1'
fi


kh_remove=''
kc=$(mktemp)
trap 'rm -f "$kc" $kh_remove' EXIT
server='https://10.0.0.1:6443' awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
k() { kubectl --kubeconfig "$kc" --request-timeout '20s' "$@"; }
etcd_ready() { k get --raw /readyz/etcd >/dev/null 2>&1; }
wait_until 120 'etcd not healthy after the join' etcd_ready


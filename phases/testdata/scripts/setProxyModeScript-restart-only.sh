kh_remove=''
kc=/etc/kubernetes/admin.conf
trap 'rm -f $kh_remove' EXIT
k() { kubectl --kubeconfig "$kc" --request-timeout '20s' "$@"; }
kh_remove=''
k -n kube-system rollout restart daemonset kube-proxy >/dev/null
echo 'kube-proxy restarted on every node'


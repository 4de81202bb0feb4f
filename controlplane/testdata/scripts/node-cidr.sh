kh_remove=''
kc=$(mktemp)
trap 'rm -f "$kc" $kh_remove' EXIT
server='https://10.0.0.1:6443' awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
k() { kubectl --kubeconfig "$kc" --request-timeout '2s' "$@"; }
cidr=''
has_cidr() { cidr=$(k get node '10.0.0.1' -o jsonpath='{.spec.podCIDR}' 2>/dev/null) && [ -n "$cidr" ]; }
wait_until 2 'the node has no Pod CIDR yet' has_cidr
echo "$cidr"


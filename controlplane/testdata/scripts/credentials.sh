kh_remove=''
kc=$(mktemp)
trap 'rm -f "$kc" $kh_remove' EXIT
server='https://10.0.0.1:6443' awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
k() { kubectl --kubeconfig "$kc" --request-timeout '20s' "$@"; }
kh_remove='10.0.0.1'
umask 077
mkdir -p '10.0.0.1'
rm -f '10.0.0.1'
cat > '10.0.0.1'
'kubeadm' 'token' 'create' '--config' '10.0.0.1' --kubeconfig "$kc" >/dev/null


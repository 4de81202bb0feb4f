kc=$(mktemp); trap 'rm -f "$kc"' EXIT
server='https://10.0.0.1:6443' awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
trap 'rm -f "$kc" /etc/kubeha/kubeadm-credentials.yaml' EXIT
kubeadm init phase upload-certs --upload-certs --config /etc/kubeha/kubeadm-credentials.yaml --kubeconfig "$kc" >/dev/null
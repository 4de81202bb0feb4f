kc=$(mktemp); trap 'rm -f "$kc"' EXIT
server='https://10.0.0.1:6443' awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
k() { kubectl --kubeconfig "$kc" --request-timeout 10s -n kube-system "$@"; }
tokens=$(k get secrets --field-selector type=bootstrap.kubernetes.io/token -o jsonpath='{range .items[*]}{.metadata.name} {.data.description}{"\n"}{end}') || exit 1
printf '%s\n' "$tokens" | while read -r name desc; do
  case "$desc" in bWFkZSBieSBrdWJlaGEgZm9yIGpvaW5zOyBkZWxldGVkIHdoZW4gdGhlIHJ1biBlbmRz|UHJveHkgZm9yIG1hbmFnaW5nIFRUTCBmb3IgdGhlIGt1YmVhZG0tY2VydHMgc2VjcmV0) k delete secret --ignore-not-found "$name" >/dev/null || exit 1 ;; esac
done || exit 1
k delete secret --ignore-not-found kubeadm-certs >/dev/null

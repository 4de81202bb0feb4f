kh_remove=''
kc=$(mktemp)
trap 'rm -f "$kc" $kh_remove' EXIT
server='https://10.0.0.1:6443' awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
k() { kubectl --kubeconfig "$kc" --request-timeout '10s' "$@"; }
tokens=$(k -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token -o jsonpath='{range .items[*]}{.metadata.name} {.data.description}{"\n"}{end}')
printf '%s\n' "$tokens" | while read -r name desc; do
  case "$desc" in
  '10.0.0.1' | '210.0.0.1') k -n kube-system delete secret --ignore-not-found "$name" >/dev/null ;;
  esac
done
k -n kube-system delete secret --ignore-not-found kubeadm-certs >/dev/null


kh_remove=''
kc=/etc/kubernetes/admin.conf
trap 'rm -f $kh_remove' EXIT
k() { kubectl --kubeconfig "$kc" --request-timeout '20s' "$@"; }
n=$(k get nodes --no-headers 2>/dev/null | wc -l)
if [ "$n" -gt 1 ]; then
  echo "this host runs a cluster of $n nodes without kubeha's mark; kubeha will not reset it. If kubeha should take it over, run on this host: mkdir -p "'/etc/kubeha'" && touch "'/etc/kubeha/node.done' '/etc/kubeha/control-plane.done' >&2
  exit 1
fi
keep=$(mktemp -d)
cp -p /etc/kubernetes/manifests/kubeha-*.yaml "$keep"/ 2>/dev/null || true
kubeadm reset -f >/dev/null 2>&1 || true
mkdir -p /etc/kubernetes/manifests
cp -p "$keep"/* /etc/kubernetes/manifests/ 2>/dev/null || true
rm -rf "$keep"
rm -f '/etc/kubeha/node.done' '/etc/kubeha/control-plane.done'


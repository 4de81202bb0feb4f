trap 'rm -f ''/etc/kubeha/kubeadm-join.yaml' EXIT
if [ ! -f '/etc/kubeha/node.done' ]; then
  start=$(date +%s%N)
  if ! kubeadm join --config '/etc/kubeha/kubeadm-join.yaml'; then
    echo "join failed: kubeadm reset to leave this host clean for a retry" >&2
    keep=$(mktemp -d)
cp -p /etc/kubernetes/manifests/kubeha-*.yaml "$keep"/ 2>/dev/null || true
kubeadm reset -f >/dev/null 2>&1 || true
mkdir -p /etc/kubernetes/manifests
cp -p "$keep"/* /etc/kubernetes/manifests/ 2>/dev/null || true
rm -rf "$keep"
    exit 1
  fi
  echo "kubeadm join took $((($(date +%s%N) - start) / 1000000)) ms"
  mkdir -p '/etc/kubeha' && touch '/etc/kubeha/node.done'
fi

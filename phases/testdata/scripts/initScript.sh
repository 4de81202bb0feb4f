trap 'rm -f ''/etc/kubeha/kubeadm-init.yaml' EXIT
if [ ! -f '/etc/kubeha/control-plane.done' ]; then
  start=$(date +%s%N)
  kubeadm init --config '/etc/kubeha/kubeadm-init.yaml' --upload-certs
  echo "kubeadm init took $((($(date +%s%N) - start) / 1000000)) ms"
  mkdir -p '/etc/kubeha' && touch '/etc/kubeha/node.done' '/etc/kubeha/control-plane.done'
fi

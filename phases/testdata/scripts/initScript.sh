set -e
trap 'rm -f /etc/kubeha/kubeadm-init.yaml' EXIT
if [ ! -f /etc/kubeha/control-plane.done ]; then
  start=$(date +%s%N)
  kubeadm init --config /etc/kubeha/kubeadm-init.yaml --upload-certs
  echo "kubeadm init took $(( ($(date +%s%N) - start) / 1000000 )) ms"
  mkdir -p /etc/kubeha && touch /etc/kubeha/node.done /etc/kubeha/control-plane.done
fi
i=0; until curl -sfk --max-time 2 https://127.0.0.1:6443/readyz >/dev/null; do
  i=$((i+1)); if [ $i -ge 180 ]; then echo "apiserver not ready after 180s" >&2; exit 1; fi; sleep 1
done
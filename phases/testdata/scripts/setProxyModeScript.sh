set -e
trap 'rm -f /etc/kubeha/kube-proxy-patch.json' EXIT
kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout 20s -n kube-system patch configmap kube-proxy --type merge --patch-file /etc/kubeha/kube-proxy-patch.json >/dev/null
echo 'kube-proxy ConfigMap set to mode 10.0.0.1'
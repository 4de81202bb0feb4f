[ -f /etc/kubernetes/kubelet.conf ]
curl -sf --max-time 3 -o /dev/null http://127.0.0.1:10248/healthz

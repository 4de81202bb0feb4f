mode='10.0.0.1'
i=0
while [ "$(curl -s --max-time 3 http://127.0.0.1:10249/proxyMode 2>/dev/null)" != "$mode" ]; do
  i=$((i+1)); if [ $i -ge 120 ]; then
    echo "kube-proxy does not report mode $mode after 120 s (it says: $(curl -s --max-time 3 http://127.0.0.1:10249/proxyMode 2>/dev/null || echo nothing)); see: kubectl -n kube-system logs -l k8s-app=kube-proxy" >&2; exit 1
  fi
  sleep 1
done
mode='10.0.0.1'
# proxy_mode prints what the local kube-proxy's /proxyMode answers.
proxy_mode() { curl -s --max-time 3 http://127.0.0.1:10249/proxyMode 2>/dev/null; }
reports_mode() { [ "$(proxy_mode)" = "$mode" ]; }
# In a subshell, so that the exit of wait_until leaves room for the hint.
if ! (wait_until 120 "kube-proxy does not report mode $mode" reports_mode); then
  echo "kube-proxy reports: $(proxy_mode || echo nothing); see: kubectl -n kube-system logs -l k8s-app=kube-proxy" >&2
  exit 1
fi

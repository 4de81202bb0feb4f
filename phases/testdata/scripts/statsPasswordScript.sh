sed -n 's/^[[:space:]]*stats auth kubeha:\(.*\)$/\1/p' '/etc/haproxy/haproxy.cfg' 2>/dev/null | head -1

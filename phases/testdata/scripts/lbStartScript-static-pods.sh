systemctl daemon-reload
if command -v haproxy >/dev/null; then haproxy -c -q -f '/etc/haproxy/haproxy.cfg'; fi
if command -v keepalived >/dev/null; then keepalived -t -f '/etc/keepalived/keepalived.conf' >/dev/null 2>&1 || keepalived -t -f '/etc/keepalived/keepalived.conf'; fi
for s in 'haproxy' 'keepalived'; do
  if systemctl is-enabled -q "$s" 2>/dev/null || systemctl is-active -q "$s" 2>/dev/null; then
    systemctl disable --now -q "$s"
    echo "stopped the host's $s: the static pod serves instead"
  fi
done

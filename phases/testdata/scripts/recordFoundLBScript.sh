mkdir -p '/etc/kubeha/found'
for f in '/etc/haproxy/haproxy.cfg' '/etc/keepalived/keepalived.conf'; do
  b='/etc/kubeha/found'/$(basename "$f")
  [ -e "$b" ] || [ -e "$b.absent" ] && continue
  if [ -f "$f" ] && ! grep -q '^# Managed by kubeha' "$f"; then cp -p "$f" "$b.tmp" && mv "$b.tmp" "$b"; else : > "$b.absent"; fi
done
for s in haproxy keepalived; do
  r='/etc/kubeha/found'/$s.service
  [ -e "$r" ] && continue
  { systemctl is-enabled -q "$s" 2>/dev/null && echo enabled || echo disabled
    systemctl is-active -q "$s" 2>/dev/null && echo active || echo inactive; } > "$r.tmp"
  mv "$r.tmp" "$r"
done

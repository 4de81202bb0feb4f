for s in 'haproxy' 'keepalived'; do
  if ! systemctl is-active -q "$s"; then echo "$s"; fi
done
for s in 'haproxy' 'keepalived'; do
  if systemctl is-active -q "$s" 2>/dev/null; then echo "stop:$s"; fi
done

left=''
# still_present WHAT records that WHAT is still on the host.
still_present() {
  left="$left
  $1"
}
# verified exits 1 naming everything still present, if anything is.
verified() {
  if [ -n "$left" ]; then
    printf 'still present after the clean-up:%s\nrun kubeha reset again; what stays after that, remove by hand (README, Reset)\n' "$left" >&2
    exit 1
  fi
}
for s in keepalived haproxy kubeha-nginx; do systemctl disable --now -q $s 2>/dev/null || true; done
rm -f '/etc/keepalived/check_apiserver.sh' '/etc/kubeha/nginx/nginx.conf' '/etc/systemd/system/kubeha-nginx.service' '/etc/kubernetes/manifests/kubeha-haproxy.yaml' '/etc/kubernetes/manifests/kubeha-keepalived.yaml' || true
for f in '/etc/haproxy/haproxy.cfg' '/etc/keepalived/keepalived.conf'; do
  b='/etc/kubeha/found'/$(basename "$f")
  if [ -f "$b" ]; then cp -p "$b" "$f" && echo "put back the distribution's $f"
  elif [ -e "$b.absent" ] || grep -q '^# Managed by kubeha' "$f" 2>/dev/null; then rm -f "$f" || true; fi
done
systemctl daemon-reload || true
for s in haproxy keepalived; do
  r='/etc/kubeha/found'/$s.service
  [ -f "$r" ] || continue
  if grep -qx enabled "$r"; then systemctl enable -q "$s" && echo "enabled $s again, as it was"; fi
  if grep -qx active "$r"; then systemctl start "$s" && echo "started $s again, as it was"; fi
done
# vip_addrs prints each interface holding the VIP, with the VIP's address
# as `ip addr del` takes it.
vip_addrs() {
  ip -o addr show | awk -v vip='10.0.0.1' '{split($4, a, "/"); if (a[1] == vip) print $2, $4}'
}
vip_addrs | while read -r dev addr; do
  if ip addr del "$addr" dev "$dev"; then echo "removed the VIP $addr from $dev"; fi
done
if systemctl is-active -q kubeha-nginx 2>/dev/null; then still_present "kubeha's nginx"; fi
if ( for f in '/etc/keepalived/check_apiserver.sh' '/etc/kubeha/nginx/nginx.conf' '/etc/systemd/system/kubeha-nginx.service' '/etc/kubernetes/manifests/kubeha-haproxy.yaml' '/etc/kubernetes/manifests/kubeha-keepalived.yaml'; do [ -e "$f" ] && exit 0; done; exit 1 ); then still_present "the load balancer's files"; fi
if (
  for f in '/etc/haproxy/haproxy.cfg' '/etc/keepalived/keepalived.conf'; do
    b='/etc/kubeha/found'/$(basename "$f")
    if [ -f "$b" ]; then cmp -s "$b" "$f" || exit 0
    elif grep -q '^# Managed by kubeha' "$f" 2>/dev/null; then exit 0; fi
  done
  exit 1
); then still_present "kubeha's haproxy.cfg or keepalived.conf in place of the distribution's"; fi
if [ -n "$(vip_addrs)" ]; then still_present 'the VIP on an interface'; fi
verified

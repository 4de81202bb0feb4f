set -f
cluster_routes() {
  fam=-4; case "$1" in *:*) fam=-6 ;; esac
  ip "$fam" route show root "$1" | awk '/^[^ \t]/ && !/ proto kernel/ {
    if ($1 ~ /^(unicast|blackhole|unreachable|prohibit|throw|local|broadcast|multicast|anycast|nat)$/) print $1, $2; else print $1 }'
}
if [ -f /etc/kubeha/routes ]; then
  grep -v '^#' /etc/kubeha/routes | while read -r dst via; do [ -n "$dst" ] && ip route del $dst 2>/dev/null; done
fi
for cidr in '10.0.0.1' '10.0.0.1'; do
  cluster_routes "$cidr" | while read -r r; do ip route del $r && echo "removed route $r"; done
done
if [ -f /etc/systemd/system/kubeha-routes.service ]; then systemctl disable --now -q kubeha-routes 2>/dev/null; rm -f /etc/systemd/system/kubeha-routes.service; systemctl daemon-reload; fi
rm -f /etc/kubeha/routes
left=''
if [ -n "$(cluster_routes '10.0.0.1'; cluster_routes '10.0.0.1')" ]; then left="$left
  "'routes into the Pod or Service CIDR'; fi
if [ -e /etc/kubeha/routes ] || [ -e /etc/systemd/system/kubeha-routes.service ]; then left="$left
  "'the routes file or its unit'; fi
if systemctl is-active -q kubeha-routes 2>/dev/null; then left="$left
  "'the kubeha-routes unit, still active'; fi
if [ -n "$left" ]; then printf 'still present after the clean-up:%s\nrun kubeha reset again; what stays after that, remove by hand (README, Reset)\n' "$left" >&2; exit 1; fi

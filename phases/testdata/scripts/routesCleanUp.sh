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
set -f
# cluster_routes CIDR prints the routes inside CIDR but the kernel's own, as
# `ip route del` takes them: the type where there is one, and the prefix.
cluster_routes() {
  fam=-4; case "$1" in *:*) fam=-6 ;; esac
  ip "$fam" route show root "$1" | awk '/^[^ \t]/ && !/ proto kernel/ {
    if ($1 ~ /^(unicast|blackhole|unreachable|prohibit|throw|local|broadcast|multicast|anycast|nat)$/) print $1, $2; else print $1 }'
}
if [ -f '/etc/kubeha/routes' ]; then
  grep -v '^#' '/etc/kubeha/routes' | while read -r dst _; do
    if [ -n "$dst" ]; then ip route del $dst 2>/dev/null || true; fi
  done
fi
for cidr in '10.0.0.1' '10.0.0.1'; do
  cluster_routes "$cidr" | while read -r r; do
    if ip route del $r; then echo "removed route $r"; fi
  done
done
if [ -f '/etc/systemd/system/kubeha-routes.service' ]; then
  systemctl disable --now -q kubeha-routes 2>/dev/null || true
  rm -f '/etc/systemd/system/kubeha-routes.service' || true
  systemctl daemon-reload || true
fi
rm -f '/etc/kubeha/routes' || true
if [ -n "$(cluster_routes '10.0.0.1'; cluster_routes '10.0.0.1')" ]; then still_present 'routes into the Pod or Service CIDR'; fi
if [ -e '/etc/kubeha/routes' ] || [ -e '/etc/systemd/system/kubeha-routes.service' ]; then still_present 'the routes file or its unit'; fi
if systemctl is-active -q kubeha-routes 2>/dev/null; then still_present 'the kubeha-routes unit, still active'; fi
verified

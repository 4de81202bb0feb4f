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
iptables_saves() {
  found=''
  for s in iptables-nft-save ip6tables-nft-save; do
    command -v "$s" >/dev/null 2>&1 && { echo "$s"; found=1; }
  done
  for v in '' 6; do
    grep -q . "/proc/net/ip${v}_tables_names" 2>/dev/null && command -v "ip${v}tables-legacy-save" >/dev/null 2>&1 &&
      { echo "ip${v}tables-legacy-save"; found=1; }
  done
  if [ -z "$found" ]; then
    for s in iptables-save ip6tables-save; do command -v "$s" >/dev/null 2>&1 && echo "$s"; done
  fi
  return 0
}
drop_chains() {
  for save in $(iptables_saves); do
    restore="${save%-save}-restore"
    # The tables that exist (listing one by name would create it).
    for t in $("$save" 2>/dev/null | sed -n 's/^[*]//p'); do
      dump=$("$save" -t "$t" 2>/dev/null) || continue
      printf '%s\n' "$dump" | grep -Eq -e "^:$1" -e " -[jg] $1" || continue
      printf '%s\n' "$dump" | grep -Ev -e "^:$1" -e "^-A $1" -e " -[jg] $1" | "$restore" -w -T "$t" &&
        echo "removed the $1* chains from the $t table ($save)"
      # An nft table that held nothing else (no rule, no other chain, no
      # policy but ACCEPT) was made for these chains: it goes too.
      case "$save" in
      *-nft-save)
        if [ -z "$("$save" -t "$t" 2>/dev/null | grep -Ev -e '^(#|\*|COMMIT$)' -e '^:[A-Z]+ ACCEPT ')" ]; then
          fam=ip; case "$save" in ip6*) fam=ip6 ;; esac
          nft delete table "$fam" "$t" 2>/dev/null && echo "removed the emptied $fam $t table"
        fi ;;
      esac
    done
  done
  return 0
}
chains_left() {
  for s in $(iptables_saves); do "$s" 2>/dev/null; done | grep -q "^:$1"
}
if [ -d /sys/class/net/cni0/brif ]; then
  for l in $(ls /sys/class/net/cni0/brif); do ip link del "$l" 2>/dev/null || true; done
fi
if ip link show cni0 >/dev/null 2>&1; then ip link del cni0 && echo "removed cni0"; fi
rm -rf /var/lib/cni/networks/kubeha /var/lib/cni/results/kubeha-* /var/lib/cni/cache/results/kubeha-* || true
drop_chains CNI-HOSTPORT-
drop_chains CNI-DN-
rm -f '/etc/cni/net.d/10-kubeha-bridge.conflist' '/etc/kubeha/cni-manifest.yaml' || true
if ip link show cni0 >/dev/null 2>&1; then still_present 'the cni0 bridge'; fi
if [ -e /var/lib/cni/networks/kubeha ]; then still_present 'IP allocations in /var/lib/cni/networks/kubeha'; fi
if [ -e '/etc/cni/net.d/10-kubeha-bridge.conflist' ]; then still_present '/etc/cni/net.d/10-kubeha-bridge.conflist'; fi
if chains_left CNI-HOSTPORT-; then still_present 'iptables chains CNI-HOSTPORT-*'; fi
if chains_left CNI-DN-; then still_present 'iptables chains CNI-DN-*'; fi
verified

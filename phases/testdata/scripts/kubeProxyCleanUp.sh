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
drop_chains KUBE-
if command -v nft >/dev/null 2>&1; then
  for fam in ip ip6; do
    if nft list table $fam kube-proxy >/dev/null 2>&1; then nft delete table $fam kube-proxy && echo "removed nftables table $fam kube-proxy"; fi
  done
fi
if ip link show kube-ipvs0 >/dev/null 2>&1; then
  if command -v ipvsadm >/dev/null 2>&1; then
    addrs=" $(ip -o addr show dev kube-ipvs0 | awk '{sub("/.*", "", $4); printf "%s ", $4}')"
    ipvsadm -Sn | while read -r op proto vs _; do
      [ "$op" = -A ] || continue
      addr=${vs%:*}; addr=${addr#[}; addr=${addr%]}; port=${vs##*:}
      case "$addrs" in *" $addr "*) ipvsadm -D "$proto" "$vs" || true; continue ;; esac
      if [ "$port" -ge 30000 ] && [ "$port" -le 32767 ]; then ipvsadm -D "$proto" "$vs" || true; fi
    done
  fi
  ip link del kube-ipvs0 && echo "removed kube-ipvs0"
fi
if command -v ipset >/dev/null 2>&1; then
  for s in $(ipset list -n 2>/dev/null | grep '^KUBE-'); do ipset destroy "$s" || true; done
fi
if chains_left KUBE-; then still_present 'iptables chains KUBE-*'; fi
if command -v nft >/dev/null 2>&1 && { nft list table ip kube-proxy || nft list table ip6 kube-proxy; } >/dev/null 2>&1; then
  still_present 'nftables tables of kube-proxy'
fi
if ip link show kube-ipvs0 >/dev/null 2>&1; then still_present 'the kube-ipvs0 interface'; fi
if command -v ipset >/dev/null 2>&1 && ipset list -n 2>/dev/null | grep -q '^KUBE-'; then still_present 'ipsets KUBE-*'; fi
verified

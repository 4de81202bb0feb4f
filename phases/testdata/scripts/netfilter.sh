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

grep -v '^#' '/etc/kubeha/routes' 2>/dev/null | while read -r dst _; do
  if [ -n "$dst" ] && ! ip route show "$dst" | grep -q .; then echo "$dst"; fi
done

if [ "$(tail -n +2 /proc/swaps | wc -l)" != 0 ]; then swapoff -a; echo "swap turned off"; fi
if grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab 2>/dev/null; then
  sed -i -E 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# kubeha: \1/' /etc/fstab; echo "swap disabled in /etc/fstab"
fi
if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" = Enforcing ]; then
  setenforce 0
  sed -i 's/^SELINUX=enforcing$/SELINUX=permissive/' /etc/selinux/config
  echo "SELinux set to permissive"
fi
present() {
  [ -d "/sys/module/$1" ] && return 0
  case "$1" in
    br_netfilter) [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] ;;
    overlay) grep -qw overlay /proc/filesystems ;;
    ip_vs) [ -e /proc/net/ip_vs ] ;;
    *) return 1 ;;
  esac
}
missing=""
for m in 'overlay' 'br_netfilter'; do
  present "$m" || modprobe "$m" 2>/dev/null || missing="$missing $m"
done
if [ -n "$missing" ]; then
  echo "kernel modules missing:$missing (not loadable and not built in); install them, or choose another spec.network.kubeProxyMode if these are the ip_vs modules" >&2
  exit 3
fi
sysctl -q -p '/etc/sysctl.d/99-kubeha.conf' >/dev/null
if systemctl is-active -q firewalld 2>/dev/null; then
  opened=""
  for p in '10250/tcp' '30000-32767/tcp' '6443/tcp'; do
    if ! firewall-cmd -q --permanent --query-port="$p"; then
      # Recorded as soon as it is open, so reset closes it even if a later
      # port fails.
      mkdir -p '/etc/kubeha'; firewall-cmd -q --permanent --add-port="$p"; echo "$p" >> '/etc/kubeha/firewalld-ports'; opened="$opened $p"
    fi
  done
  if [ -n "$opened" ]; then firewall-cmd -q --reload; echo "firewalld ports opened:$opened"; fi
fi
hosts='/etc/hosts' begin='# BEGIN kubeha' end='# END kubeha'
# hosts_block_lines 1 prints the block, markers included; hosts_block_lines 0
# every other line. The block runs from a begin line to the next end line (or
# to the end of the file), as in sed's /^begin$/,/^end$/ range, without
# starting a process. A last line without a newline is printed with one.
hosts_block_lines() {
  _in=0
  while IFS= read -r _l || [ -n "$_l" ]; do
    if [ "$_l" = "$begin" ]; then _in=1; fi
    if [ "$_in" = "$1" ]; then printf '%s\n' "$_l"; fi
    if [ "$_l" = "$end" ]; then _in=0; fi
  done < "$hosts"
}
block='# BEGIN kubeha
10.0.0.1 10.0.0.1
# END kubeha
'
if [ "$(hosts_block_lines 1)" != "$(printf '%s' "$block")" ]; then
  (
    tmp=$(mktemp '/etc/.hosts.kubeha-XXXXXX')
    trap 'rm -f "$tmp"' EXIT
    { hosts_block_lines 0; printf '%s' "$block"; } > "$tmp"
    chmod 644 "$tmp"
    if grep -qF " $hosts " /proc/self/mounts; then cat "$tmp" > "$hosts"; else mv -f "$tmp" "$hosts"; fi
  )
  echo "updated $hosts"
fi

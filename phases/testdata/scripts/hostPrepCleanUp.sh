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
if [ -s '/etc/kubeha/firewalld-ports' ]; then
  if ! systemctl is-active -q firewalld 2>/dev/null; then
    echo "firewalld is not running, so the ports kubeha opened ($(tr '\n' ' ' < '/etc/kubeha/firewalld-ports')) cannot be closed: start firewalld and run kubeha reset again" >&2
    exit 1
  fi
  for p in $(cat '/etc/kubeha/firewalld-ports'); do
    if firewall-cmd -q --permanent --query-port="$p"; then firewall-cmd -q --permanent --remove-port="$p" || exit 1; fi
  done
  firewall-cmd -q --reload && echo "closed the firewalld ports kubeha opened"
fi
rm -rf '/etc/sysctl.d/99-kubeha.conf' '/etc/modules-load.d/kubeha.conf' '/etc/kubeha' || true
# The hosts script rewrites /etc/hosts, so it must stop at its first
# failure: it runs in a subshell with set -e. That failure, like any
# removal step's, must not stop this script (the check below names the block
# left). An if or || around the subshell would make the shell ignore -e
# inside it too, so set -e is off around it instead.
set +e
(
  set -e
set -e
block=''
cur=$(sed -n '/^# BEGIN kubeha$/,/^# END kubeha$/p' /etc/hosts)
if [ "$cur" = "$(printf '%s' "$block" | sed '$ {/^$/d}')" ]; then exit 0; fi
tmp=$(mktemp /etc/.hosts.kubeha-XXXXXX)
trap 'rm -f "$tmp"' EXIT
sed '/^# BEGIN kubeha$/,/^# END kubeha$/d' /etc/hosts > "$tmp"
printf '%s' "$block" >> "$tmp"
chmod 644 "$tmp"
if grep -q ' /etc/hosts ' /proc/self/mounts; then cat "$tmp" > /etc/hosts; else mv -f "$tmp" /etc/hosts; fi
echo "updated /etc/hosts"

)
set -e
if [ -e '/etc/sysctl.d/99-kubeha.conf' ] || [ -e '/etc/modules-load.d/kubeha.conf' ] || [ -e '/etc/kubeha' ]; then still_present "host-prep's files or "'/etc/kubeha'; fi
if grep -qxF '# BEGIN kubeha' /etc/hosts; then still_present "kubeha's block in /etc/hosts"; fi
verified

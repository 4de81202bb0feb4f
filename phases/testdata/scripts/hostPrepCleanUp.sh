if [ -s /etc/kubeha/firewalld-ports ]; then
  if ! systemctl is-active -q firewalld 2>/dev/null; then
    echo "firewalld is not running, so the ports kubeha opened ($(tr '\n' ' ' < /etc/kubeha/firewalld-ports)) cannot be closed: start firewalld and run kubeha reset again" >&2
    exit 1
  fi
  for p in $(cat /etc/kubeha/firewalld-ports); do
    if firewall-cmd -q --permanent --query-port="$p"; then firewall-cmd -q --permanent --remove-port="$p" || exit 1; fi
  done
  firewall-cmd -q --reload && echo "closed the firewalld ports kubeha opened"
fi
rm -rf /etc/sysctl.d/99-kubeha.conf /etc/modules-load.d/kubeha.conf /etc/kubeha
(
# The prelude of every script kubeha runs on a host (package scripts).
set -eu
# wait_until SECONDS WHAT COMMAND [ARG...] runs COMMAND every half second
# until it succeeds. When SECONDS pass first, it prints "WHAT after SECONDS s"
# on stderr (WHAT says what is wrong: "apiserver not ready") and returns 1,
# which ends the script (set -e) unless the caller tests it.
wait_until() {
  _wu_secs=$1 _wu_what=$2
  shift 2
  _wu_end=$(($(date +%s) + _wu_secs))
  until "$@"; do
    if [ "$(date +%s)" -ge "$_wu_end" ]; then
      echo "$_wu_what after ${_wu_secs} s" >&2
      return 1
    fi
    sleep 0.5
  done
}
# section NAME starts the part of the output that scripts.Sections returns
# under NAME.
section() { echo "@@kubeha-section $1"; }
# hash_files PATH... prints sha256sum's "HASH  PATH" line for each PATH that
# is a file, with one sha256sum for them all (scripts.ParseHashes).
hash_files() {
  _hf_n=$#
  while [ "$_hf_n" -gt 0 ]; do
    if [ -f "$1" ]; then set -- "$@" "$1"; fi
    shift
    _hf_n=$((_hf_n - 1))
  done
  if [ $# -gt 0 ]; then sha256sum -- "$@"; fi
}
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
block=''
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
)
left=''
if [ -e /etc/sysctl.d/99-kubeha.conf ] || [ -e /etc/modules-load.d/kubeha.conf ] || [ -e /etc/kubeha ]; then left="$left
  "'host-prep'\''s files or /etc/kubeha'; fi
if grep -q '^# BEGIN kubeha$' /etc/hosts; then left="$left
  "'kubeha'\''s block in /etc/hosts'; fi
if [ -n "$left" ]; then printf 'still present after the clean-up:%s\nrun kubeha reset again; what stays after that, remove by hand (README, Reset)\n' "$left" >&2; exit 1; fi

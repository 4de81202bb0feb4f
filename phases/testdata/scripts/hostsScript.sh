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

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
if [ -e "$hosts" ]; then hosts_block_lines 1; fi

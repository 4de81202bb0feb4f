umask 077
w() {
  p=$1; d=${p%/*}; t="$d/.${p##*/}.kubeha-new"
  [ -d "$d" ] || mkdir -p "$d"
  if ! head -c "$3" > "$t" 2>/dev/null; then bad "short write"; fi
  set -- "$@" $(sha256sum "$t" "$p" 2>/dev/null)
  if [ "${5:-}" != "$4" ]; then bad "checksum mismatch"; fi
  if [ "${7:-}" = "$4" ]; then rm -f "$t"; return 0; fi
  chmod "$2" "$t"
  mv -f "$t" "$p"
  echo "$p"
}
bad() {
  rm -f "$t"
  kb=$(df -Pk "$d" 2>/dev/null | awk 'NR==2 {print $4}')
  if [ -n "$kb" ] && [ "$kb" -lt 64 ]; then
    echo "not enough disk space in $d: $kb KiB free writing $p; free space on the host and run again" >&2
  else
    echo "$p: $1 writing $t" >&2
  fi
  exit 65
}
w '10.0.0.1' 600 8 'f5047344122f0dee9974ba6761e61c6b8649e1f3968d13a635ebbf7be53a3a0d'
w '/etc/sysctl.d/99-kubeha.conf' 644 1 '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881'

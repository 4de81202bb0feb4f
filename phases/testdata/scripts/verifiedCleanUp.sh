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

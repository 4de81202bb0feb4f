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

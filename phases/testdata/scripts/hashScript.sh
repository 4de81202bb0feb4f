set --
[ -f '10.0.0.1' ] && set -- "$@" '10.0.0.1'
[ -f '/etc/sysctl.d/99-kubeha.conf' ] && set -- "$@" '/etc/sysctl.d/99-kubeha.conf'
[ $# = 0 ] || sha256sum -- "$@"

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
if command -v kubeadm >/dev/null; then kubeadm reset -f --cleanup-tmp-dir || true; fi
rm -f '/etc/kubeha/node.done' '/etc/kubeha/control-plane.done' || true
if command -v ctr >/dev/null 2>&1 && [ -n "$(ctr -n k8s.io tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING"')" ]; then
  still_present 'pod containers still running (containerd namespace k8s.io)'
fi
if [ -n "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ]; then still_present 'static pod manifests in /etc/kubernetes/manifests'; fi
if ls /etc/kubernetes/*.conf >/dev/null 2>&1; then still_present 'kubeconfigs in /etc/kubernetes'; fi
if [ -f /var/lib/kubelet/config.yaml ]; then still_present "the kubelet's configuration"; fi
verified

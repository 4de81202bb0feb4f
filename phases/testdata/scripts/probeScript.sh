section facts
(
KH_ADDR='10.0.0.1'
if [ -r /etc/os-release ]; then . /etc/os-release; fi
echo "os=${ID:-unknown}"
echo "osversion=${VERSION_ID:-}"
init=; read -r init < /proc/1/comm 2>/dev/null || true; echo "init=$init"
if command -v getenforce >/dev/null 2>&1; then echo "selinux=$(getenforce 2>/dev/null)"; else echo "selinux="; fi
n=0; { read -r _; while read -r _; do n=$((n+1)); done; } < /proc/swaps 2>/dev/null || true; echo "swap=$n"
set -- $(ip -o -4 addr show to "$KH_ADDR/32" 2>/dev/null); echo "iface=${2:-}"
if command -v kubeadm >/dev/null 2>&1; then echo "kubeadm=$(kubeadm version -o short 2>/dev/null)"; else echo "kubeadm="; fi
if command -v kubelet >/dev/null 2>&1; then set -- $(kubelet --version 2>/dev/null); echo "kubelet=${2:-}"; else echo "kubelet="; fi
if [ -S /run/containerd/containerd.sock ]; then echo containerd=1; else echo containerd=0; fi
if [ -f /etc/kubernetes/admin.conf ]; then echo adminconf=1; else echo adminconf=0; fi
if [ -f /etc/kubernetes/kubelet.conf ]; then echo kubeletconf=1; else echo kubeletconf=0; fi
k=0; for p in /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/bootstrap-kubelet.conf /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/etcd.yaml; do if [ -e "$p" ]; then k=1; fi; done; echo "kubeadmfiles=$k"
if [ -f '/etc/kubeha/node.done' ]; then echo nodedone=1; else echo nodedone=0; fi
if [ -f '/etc/kubeha/control-plane.done' ]; then echo cpdone=1; else echo cpdone=0; fi
kver=; read -r kver < /proc/sys/kernel/osrelease || true
if [ -e /proc/net/ip_vs ] || { [ -d "/lib/modules/$kver" ] && modprobe -q -n ip_vs 2>/dev/null; }; then echo ipvs=1; else echo ipvs=0; fi
r=; while read -r k v _; do if [ "$k" = nameserver ]; then r="$r$v "; fi; done < /etc/resolv.conf 2>/dev/null || true; echo "resolvers=$r"
if [ -d /run/systemd/system ] && systemctl is-active -q firewalld 2>/dev/null; then echo firewalld=1; else echo firewalld=0; fi
)
section hashes
hash_files '10.0.0.1' '/etc/sysctl.d/99-kubeha.conf'
section extra
(
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
)

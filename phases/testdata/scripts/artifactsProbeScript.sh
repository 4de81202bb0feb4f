section hashes
hash_files '10.0.0.1' '/usr/bin/kubeadm'
section images
ctr -n k8s.io images ls -q 2>/dev/null || true

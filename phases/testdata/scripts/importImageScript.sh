systemctl daemon-reload
systemctl enable -q kubelet
ctr -n k8s.io images import '/var/tmp/kubeha-images/10.0.0.1' >/dev/null
rm -f '/var/tmp/kubeha-images/10.0.0.1'
echo imported '10.0.0.1' 'registry.k8s.io/pause:3.10'
ctr -n k8s.io images import '/var/tmp/kubeha-images/etcd.tar' >/dev/null
rm -f '/var/tmp/kubeha-images/etcd.tar'
echo imported 'registry.k8s.io/etcd:3.7.0-0'

systemctl daemon-reload
systemctl enable -q kubelet

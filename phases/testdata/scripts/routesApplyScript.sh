systemctl enable -q kubeha-routes
systemctl restart kubeha-routes

nginx -t -q -c '/etc/kubeha/nginx/nginx.conf'
systemctl enable -q 'kubeha-nginx'
systemctl is-active -q 'kubeha-nginx' || { systemctl start 'kubeha-nginx'; echo "started "'kubeha-nginx'; }

hash_files '10.0.0.1' '/etc/sysctl.d/99-kubeha.conf'

if pkill -x kubeadm; then
  echo "stopped a kubeadm left running by an interrupted run"
  gone() { ! pgrep -x kubeadm >/dev/null; }
  wait_until 10 'a kubeadm from an interrupted run still runs' gone || true
fi

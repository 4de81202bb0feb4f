if [ -f '10.0.0.1' ] && [ -f /etc/kubernetes/admin.conf ]; then
  if curl -sfk --max-time 3 -o /dev/null '10.0.0.1'; then echo ready; else echo joined; fi
fi

if [ ! -x /opt/cni/bin/bridge ]; then
  if [ -x /usr/lib/cni/bridge ]; then
    mkdir -p /opt/cni/bin
    for p in /usr/lib/cni/*; do ln -sf "$p" /opt/cni/bin/; done
    echo "linked /usr/lib/cni plugins into /opt/cni/bin"
  else
    echo "CNI plugins missing: install containernetworking-plugins (bridge, host-local, portmap)" >&2
    exit 3
  fi
fi

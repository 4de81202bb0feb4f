mkdir -p '/etc/kubeha' && touch '/etc/kubeha/node.done' '/etc/kubeha/control-plane.done'

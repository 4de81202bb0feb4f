#!/bin/sh
# Managed by kubeha: keepalived's health check. Exits non-zero, so this host
# gives up the VIP, when haproxy is not serving the endpoint port.
# This host's own apiserver is not checked, as kubeadm's HA guide does not:
# haproxy here sends to every master's, so an apiserver restarting here (an
# upgrade, a certificate renewal) must not move the VIP and cut the
# connections that hold it.
fail() { echo "check_apiserver: $*" >&2; exit 1; }
curl --silent --max-time 1 --insecure https://127.0.0.1:16443/readyz -o /dev/null || fail "haproxy not answering on 16443"

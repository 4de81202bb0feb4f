#!/bin/sh
# Managed by kubeha: keepalived's health check. Exits non-zero, so this host
# gives up the VIP, when haproxy is not serving the endpoint port or the
# local apiserver is not ready.
fail() { echo "check_apiserver: $*" >&2; exit 1; }
curl --silent --fail --max-time 1 --insecure https://127.0.0.1:6443/readyz -o /dev/null || fail "local apiserver not ready"
curl --silent --max-time 1 --insecure https://127.0.0.1:16443/readyz -o /dev/null || fail "haproxy not answering on 16443"

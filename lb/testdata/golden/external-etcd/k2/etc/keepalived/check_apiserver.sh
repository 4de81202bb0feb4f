#!/bin/sh
# Managed by kubeha: keepalived's health check. Exits non-zero, so this host
# gives up the VIP, when haproxy here is not running or has no apiserver
# left to send to (its own health checks took every one out).
# It asks haproxy itself (its monitor URI on the stats port), not an
# apiserver through it: an apiserver slow to answer under load is as slow
# through any holder, and a check that timed out on one moved the VIP, and
# each move cut every connection through it (issue 18).
# This host's own apiserver is not checked, as kubeadm's HA guide does not:
# haproxy here sends to every master's, so an apiserver restarting here (an
# upgrade, a certificate renewal) must not move the VIP and cut the
# connections that hold it.
fail() { echo "check_apiserver: $*" >&2; exit 1; }
code=$(curl --silent --max-time 1 -o /dev/null -w '%{http_code}' http://127.0.0.1:8404/healthz)
rc=$?
[ "$code" = 200 ] && exit 0
# Connected, and no answer within the second: haproxy is alive but starved
# of CPU, as is everything on this host then (keepalived itself went 1.4 s
# unscheduled in a conformance run). Another holder would not serve
# better, and giving up the VIP would cut every connection through it.
[ "$rc" = 28 ] && exit 0
# 503: haproxy has no apiserver up; or it still runs a configuration from
# before the monitor URI (which answers 503 too), in the moment between
# kubeha writing this script and reloading haproxy. Then an apiserver
# through haproxy decides, as this check did before: with no apiserver up,
# haproxy closes the connection at once.
if [ "$code" = 503 ]; then
	curl --silent --max-time 1 --insecure https://127.0.0.1:16443/readyz -o /dev/null && exit 0
fi
[ "$code" = 000 ] && code=nothing
fail "haproxy is not running or has no apiserver up (127.0.0.1:8404/healthz answered $code)"

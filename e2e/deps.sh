#!/usr/bin/env bash
# Installs, when missing, the Debian packages the e2e machines need: the
# harness's own dockerd and debootstrap for the machine images, gcc and
# libc6-dev for e2e/kube/build.sh's static pause and e2e/flannel/build.sh's
# static flanneld; make, bzip2 and curl for the conformance images' BusyBox,
# built from its source. Idempotent.
set -euo pipefail
need=()
for p in docker.io debootstrap iproute2 openssh-client gcc libc6-dev make bzip2 curl; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "e2e: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

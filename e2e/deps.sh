#!/usr/bin/env bash
# Installs, when missing, the Debian packages the e2e machines need: the
# harness's own dockerd and debootstrap for the machine images, gcc and
# libc6-dev for e2e/kube/build.sh's static pause and e2e/flannel/build.sh's
# static flanneld; make, bzip2 and curl for the conformance images' BusyBox,
# built from its source; docker-registry for the harness's registry, which
# TestConformance's machines pull agnhost through (e2e/machines/registry.go).
# Idempotent.
set -euo pipefail
need=()
for p in docker.io debootstrap iproute2 openssh-client gcc libc6-dev make bzip2 curl docker-registry; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "e2e: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}"
	# Where systemd runs, the package starts its own service, on port 5000
	# of every address of the host: the harness starts its registry itself,
	# inside its namespace, and wants none of this one.
	case " ${need[*]} " in
	*" docker-registry "*) systemctl disable --now docker-registry.service >/dev/null 2>&1 || true ;;
	esac
fi

#!/usr/bin/env bash
# Builds the Kubernetes binaries kubeha's e2e machines need, offline: every
# source comes from the Go module proxy (no download site is reachable here).
#
#   e2e/kube/build.sh [binary ...]      default: all of them
#
#   KUBE_VERSION=v1.36.3 e2e/kube/build.sh   another Kubernetes version
#
#   e2e/kube/build.sh e2e.test agnhost nnp sample-apiserver ginkgo
#       the conformance suite and the programs of its test images (make
#       conformance); built only when named, never by default
#
# Output: ${KUBEHA_CACHE:-$HOME/.cache/kubeha}/kube/$KUBE_VERSION/<binary>,
# named as upstream. Each binary is rebuilt only when its version or build
# recipe changes (a .stamp beside it records them). Prints progress: a cold
# build of everything takes about 20 minutes on 2 cores. pause is upstream's
# C program from the k8s.io/kubernetes module, compiled with gcc -static.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
CACHE=${KUBEHA_CACHE:-$HOME/.cache/kubeha}
OUT=$CACHE/kube/$KUBE_VERSION
WRAP=$CACHE/kube/wrapper-$KUBE_VERSION
# The etcd and CoreDNS versions kubeadm $KUBE_VERSION expects: its
# DefaultEtcdVersion and CoreDNSVersion (cmd/kubeadm/app/constants). The
# environment overrides them; either way they are checked against
# `kubeadm config images list` once kubeadm is built.
case $KUBE_VERSION in
v1.37.2) etcd_default=v3.7.0 coredns_default=v1.14.6 ;;
v1.36.3) etcd_default=v3.6.8 coredns_default=v1.14.2 ;;
*) etcd_default='' coredns_default='' ;;
esac
ETCD_VERSION=${ETCD_VERSION:-$etcd_default}
COREDNS_VERSION=${COREDNS_VERSION:-$coredns_default}
if [ -z "$ETCD_VERSION" ] || [ -z "$COREDNS_VERSION" ]; then
	echo "build.sh: no etcd and CoreDNS versions known for $KUBE_VERSION: set ETCD_VERSION and COREDNS_VERSION" \
		"(DefaultEtcdVersion and CoreDNSVersion in its cmd/kubeadm/app/constants/constants.go)" >&2
	exit 2
fi

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
staging_version="v0.${KUBE_VERSION#v1.}"
ldpkg() { printf -- "-X %s/version.gitVersion=%s -X %s/version.gitMajor=1 -X %s/version.gitMinor=%s -X %s/version.gitTreeState=clean " "$1" "$KUBE_VERSION" "$1" "$1" "$minor" "$1"; }
LDFLAGS="-s -w $(ldpkg k8s.io/component-base) $(ldpkg k8s.io/client-go/pkg)"

log() { printf '[kube-build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

mkdir -p "$OUT" "$WRAP"
# One build of a version at a time: CI builds the upgrade's starting version
# in the background while the first tests run, and the upgrade test runs
# this script again to wait for it (then finds every binary cached).
exec 9>"$CACHE/kube/.build-$KUBE_VERSION.lock"
if ! flock -n 9; then
	log "waiting for another build of $KUBE_VERSION to finish"
	flock 9
fi
if [ ! -f "$WRAP/go.mod" ] || ! grep -q "k8s.io/kubernetes $KUBE_VERSION" "$WRAP/go.mod"; then
	log "creating wrapper module for k8s.io/kubernetes $KUBE_VERSION"
	gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod
	(cd "$WRAP" && rm -f go.mod go.sum && go mod init kubeha.local/kube-build >/dev/null 2>&1)
	go mod download "k8s.io/kubernetes@$KUBE_VERSION"
	{
		echo
		echo "require k8s.io/kubernetes $KUBE_VERSION"
		echo
		# Every staging module k8s.io/kubernetes replaces with ./staging,
		# pinned to its published version; the samples are not served.
		grep -E '=> \./staging' "$gomod" | awk '{print $1}' | grep -v -E 'sample-(cli-plugin|controller)$' |
			while read -r m; do echo "replace $m => $m $staging_version"; done
	} >>"$WRAP/go.mod"
fi
# Earlier versions of this script wrote a Go stand-in for pause here.
rm -f "$WRAP/pause.go"

# pause: upstream's C source and the pause version kubeadm names in its image
# list, compiled as upstream's build/pause/Makefile does (VERSION is
# v$TAG-$REV there; REV is the Kubernetes tag here).
KSRC=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION
[ -f "$KSRC/build/pause/linux/pause.c" ] || go mod download "k8s.io/kubernetes@$KUBE_VERSION"
PAUSE_VERSION=$(sed -n 's/^[[:space:]]*PauseVersion = "\(.*\)"$/\1/p' "$KSRC/cmd/kubeadm/app/constants/constants.go")
if [ -z "$PAUSE_VERSION" ]; then
	echo "build.sh: no PauseVersion in $KSRC/cmd/kubeadm/app/constants/constants.go" >&2
	exit 1
fi
PAUSE_CFLAGS="-Os -Wall -Werror -static -DVERSION=v$PAUSE_VERSION-$KUBE_VERSION"

# check_images fails when kubeadm, once built, expects other etcd, CoreDNS
# or pause versions than the ones built here. It checks once per run.
images_checked=''
check_images() {
	[ -z "$images_checked" ] && [ -x "$OUT/kubeadm" ] || return 0
	local list bad=''
	list=$("$OUT/kubeadm" config images list --kubernetes-version "$KUBE_VERSION")
	grep -q "/etcd:${ETCD_VERSION#v}-" <<<"$list" || bad+=" etcd $ETCD_VERSION"
	grep -q "/coredns:$COREDNS_VERSION\$" <<<"$list" || bad+=" CoreDNS $COREDNS_VERSION"
	grep -q "/pause:$PAUSE_VERSION\$" <<<"$list" || bad+=" pause $PAUSE_VERSION"
	if [ -n "$bad" ]; then
		echo "build.sh: kubeadm $KUBE_VERSION does not expect$bad; it lists:" >&2
		echo "$list" >&2
		exit 1
	fi
	images_checked=1
}

# name|package (for pause, its C source in the module)|module to `go get` for it
targets=(
	"kubeadm|k8s.io/kubernetes/cmd/kubeadm|"
	"kubelet|k8s.io/kubernetes/cmd/kubelet|"
	"kubectl|k8s.io/kubernetes/cmd/kubectl|"
	"kube-apiserver|k8s.io/kubernetes/cmd/kube-apiserver|"
	"kube-controller-manager|k8s.io/kubernetes/cmd/kube-controller-manager|"
	"kube-scheduler|k8s.io/kubernetes/cmd/kube-scheduler|"
	"kube-proxy|k8s.io/kubernetes/cmd/kube-proxy|"
	"etcd|go.etcd.io/etcd/server/v3|go.etcd.io/etcd/server/v3@$ETCD_VERSION"
	"etcdctl|go.etcd.io/etcd/etcdctl/v3|go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION"
	"etcdutl|go.etcd.io/etcd/etcdutl/v3|go.etcd.io/etcd/etcdutl/v3@$ETCD_VERSION"
	"coredns|github.com/coredns/coredns|github.com/coredns/coredns@$COREDNS_VERSION"
	"pause|build/pause/linux/pause.c|"
)
# Built only when named: the Kubernetes e2e suite (a test binary, whose
# test-only dependencies need `go get -t`) and the programs its
# conformance images run. agnhost reports the version its image tag says.
AGNHOST_VERSION=$(cat "$KSRC/test/images/agnhost/VERSION")
named_only=(
	"e2e.test|k8s.io/kubernetes/test/e2e|-t k8s.io/kubernetes/test/e2e@$KUBE_VERSION"
	"agnhost|k8s.io/kubernetes/test/images/agnhost|"
	"nnp|k8s.io/kubernetes/test/images/nonewprivs|"
	"sample-apiserver|k8s.io/sample-apiserver|k8s.io/sample-apiserver@$staging_version"
	"ginkgo|github.com/onsi/ginkgo/v2/ginkgo|"
)

want=("$@")
selected() {
	[ ${#want[@]} -eq 0 ] && return 0
	for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
	return 1
}
for w in "${want[@]}"; do
	known=''
	for t in "${targets[@]}"; do [ "${t%%|*}" = "$w" ] && known=1; done
	for t in "${named_only[@]}"; do [ "${t%%|*}" = "$w" ] && targets+=("$t") && known=1; done
	if [ -z "$known" ]; then
		echo "build.sh: no binary named $w; known: $(printf '%s ' "${targets[@]%%|*}" "${named_only[@]%%|*}")" >&2
		exit 2
	fi
done

cd "$WRAP"
check_images
for t in "${targets[@]}"; do
	IFS='|' read -r name pkg getmod <<<"$t"
	selected "$name" || continue
	if [ "$name" = pause ]; then
		stamp="pause-c-1 $KUBE_VERSION $PAUSE_VERSION gcc-$(gcc -dumpfullversion) $PAUSE_CFLAGS"
	else
		stamp="$KUBE_VERSION $ETCD_VERSION $COREDNS_VERSION $(go env GOVERSION) $LDFLAGS"
	fi
	if [ -x "$OUT/$name" ] && [ "$(cat "$OUT/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
		log "$name: cached"
		continue
	fi
	start=$(date +%s)
	if [ "$name" = pause ]; then
		log "$name: compiling $pkg"
		# shellcheck disable=SC2086 # PAUSE_CFLAGS is a list of flags
		gcc $PAUSE_CFLAGS -o "$OUT/$name.tmp" "$KSRC/$pkg"
		strip "$OUT/$name.tmp"
	else
		log "$name: resolving modules"
		if [ "$name" = ginkgo ]; then
			# The ginkgo CLI of the library e2e.test was built with: parallel
			# runs need both to be one version.
			go get -t "k8s.io/kubernetes/test/e2e@$KUBE_VERSION" >/dev/null 2>&1 || go get -t "k8s.io/kubernetes/test/e2e@$KUBE_VERSION"
			go get "$pkg@$(go list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2)"
		elif [ -n "$getmod" ]; then
			# shellcheck disable=SC2086 # getmod may carry -t
			go get $getmod >/dev/null 2>&1 || go get $getmod
		else
			go get "$pkg@$KUBE_VERSION" >/dev/null 2>&1 || go get "$pkg@$KUBE_VERSION"
		fi
		log "$name: building"
		case $name in
		ginkgo) CGO_ENABLED=0 go build -trimpath -o "$OUT/$name.tmp" "$pkg" ;;
		e2e.test) CGO_ENABLED=0 go test -c -trimpath -ldflags "$LDFLAGS" -o "$OUT/$name.tmp" "$pkg" ;;
		agnhost) CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=$AGNHOST_VERSION" -o "$OUT/$name.tmp" "$pkg" ;;
		*) CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/$name.tmp" "$pkg" ;;
		esac
	fi
	mv -f "$OUT/$name.tmp" "$OUT/$name"
	echo "$stamp" >"$OUT/$name.stamp"
	log "$name: built in $(($(date +%s) - start))s"
done
check_images
log "done: $OUT"

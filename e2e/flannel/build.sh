#!/usr/bin/env bash
# Builds flannel's flanneld and install-conf and a flannel CNI plugin for
# TestFlannel (e2e/cluster/flannel_e2e_test.go), offline: the Go module
# proxy serves github.com/flannel-io/flannel and
# github.com/containernetworking/plugins. The plugin flannel ships today
# (github.com/flannel-io/cni-plugin) is not served; its code lived in
# containernetworking/plugins (plugins/meta/flannel) until v0.9.1, the last
# release to carry it, and that is the plugin built here. It speaks CNI
# 0.1.0-0.4.0, so the test sets the manifest's conflist to 0.4.0; a plugin
# built outside the project from flannel-io/cni-plugin, named in
# KUBEHA_FLANNEL_CNI_PLUGIN, takes its place and the manifest stays as
# published (docs/inventory.md, "A manifest CNI: flannel").
#
#   e2e/flannel/build.sh
#   FLANNEL_VERSION=v0.28.10 e2e/flannel/build.sh
#
# Output: ${KUBEHA_CACHE:-$HOME/.cache/kubeha}/flannel/$FLANNEL_VERSION/:
# flanneld, install-conf, flannel-cni (the plugin) and kube-flannel.yml, the release's own manifest
# (Documentation/kube-flannel.yml in the module), which names the images
# the harness builds from these binaries. Each binary is rebuilt only when
# its version or recipe changes (a .stamp beside it records them); a cold
# build takes a few minutes on 2 cores.
#
# flanneld is built as upstream's Makefile builds it for amd64: with cgo,
# for its UDP backend's packet proxy is C and in every amd64 build (with
# CGO_ENABLED=0 that package does not compile there), linked statically
# (-extldflags -static, glibc's libc.a from libc6-dev); the netgo and
# osusergo tags keep glibc's resolver and NSS, which a static binary cannot
# load, out of it. install-conf is built as upstream's images/Dockerfile
# builds it: CGO_ENABLED=0, and so is the plugin. Wrapper modules of their
# own keep flannel's dependencies away from the Kubernetes build's, and the
# plugin's (containernetworking/cni v0.8.1) away from flanneld's.
set -euo pipefail

FLANNEL_VERSION=${FLANNEL_VERSION:-v0.28.10}
CACHE=${KUBEHA_CACHE:-$HOME/.cache/kubeha}
OUT=$CACHE/flannel/$FLANNEL_VERSION
WRAP=$CACHE/flannel/wrapper-$FLANNEL_VERSION
MOD=github.com/flannel-io/flannel
CNI_PLUGINS_MOD=github.com/containernetworking/plugins
CNI_PLUGINS_VERSION=v0.9.1
CNI_WRAP=$CACHE/flannel/wrapper-cni-plugins-$CNI_PLUGINS_VERSION
LDFLAGS="-s -w -X $MOD/pkg/version.Version=$FLANNEL_VERSION"
# Changes whenever the way a binary is built changes meaning.
RECIPE=flannel-build-2
CNI_RECIPE=flannel-cni-build-1

log() { printf '[flannel-build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

mkdir -p "$OUT" "$WRAP"
# One build of a version at a time; a second run waits, then finds every
# binary cached.
exec 9>"$CACHE/flannel/.build-$FLANNEL_VERSION.lock"
if ! flock -n 9; then
	log "waiting for another build of $FLANNEL_VERSION to finish"
	flock 9
fi
SRC=$(go env GOMODCACHE)/$MOD@$FLANNEL_VERSION
[ -f "$SRC/main.go" ] || go mod download "$MOD@$FLANNEL_VERSION"
cd "$WRAP"
# flanneld's main package imports every backend, and one of them, the
# Tencent Cloud VPC backend, needs an SDK module the Go module proxy does
# not serve (tencentcloud-sdk-go/tencentcloud/vpc: 403 for every version).
# The wrapper's main is the module's own main.go without that one import:
# the backend is left out, vxlan and the others are flannel's code as
# released. Made here, in the cache, from the module; never committed.
if [ ! -f go.mod ] || ! grep -q "$MOD $FLANNEL_VERSION" go.mod || [ ! -f main.go ]; then
	log "creating wrapper module for $MOD $FLANNEL_VERSION (main.go without the tencentvpc backend)"
	rm -f go.mod go.sum main.go
	go mod init kubeha.local/flannel-build >/dev/null 2>&1
	echo "require $MOD $FLANNEL_VERSION" >>go.mod
	sed '/"github.com\/flannel-io\/flannel\/pkg\/backend\/tencentvpc"/d' "$SRC/main.go" >main.go
	if grep -q tencentvpc main.go; then
		echo "build.sh: main.go of $MOD $FLANNEL_VERSION still names tencentvpc after the import was taken out" >&2
		exit 1
	fi
	go mod tidy >/dev/null 2>&1 || go mod tidy
fi
# name|package|cgo (flanneld is the wrapper's main package, ".")
targets=(
	"flanneld|.|1"
	"install-conf|$MOD/cmd/install_conf|0"
)
for t in "${targets[@]}"; do
	IFS='|' read -r name pkg cgo <<<"$t"
	stamp="$RECIPE $FLANNEL_VERSION $(go env GOVERSION) cgo=$cgo $LDFLAGS"
	if [ -x "$OUT/$name" ] && [ "$(cat "$OUT/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
		log "$name: cached"
		continue
	fi
	start=$(date +%s)
	if [ "$pkg" != . ]; then
		log "$name: resolving modules"
		go get "$pkg@$FLANNEL_VERSION" >/dev/null 2>&1 || go get "$pkg@$FLANNEL_VERSION"
	fi
	log "$name: building $pkg"
	if [ "$cgo" = 1 ]; then
		CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo -ldflags "$LDFLAGS -extldflags -static" -o "$OUT/$name.tmp" "$pkg"
	else
		CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/$name.tmp" "$pkg"
	fi
	# The images run it on another root file system: it must need no
	# shared library.
	if ldd "$OUT/$name.tmp" >/dev/null 2>&1; then
		echo "build.sh: $name is not statically linked:" >&2
		ldd "$OUT/$name.tmp" >&2 || true
		exit 1
	fi
	mv -f "$OUT/$name.tmp" "$OUT/$name"
	echo "$stamp" >"$OUT/$name.stamp"
	log "$name: built in $(($(date +%s) - start))s"
done

# The flannel CNI plugin, from its last release in containernetworking/plugins.
stamp="$CNI_RECIPE $CNI_PLUGINS_MOD $CNI_PLUGINS_VERSION $(go env GOVERSION) cgo=0"
if [ -x "$OUT/flannel-cni" ] && [ "$(cat "$OUT/flannel-cni.stamp" 2>/dev/null)" = "$stamp" ]; then
	log "flannel-cni: cached"
else
	start=$(date +%s)
	mkdir -p "$CNI_WRAP"
	cd "$CNI_WRAP"
	if [ ! -f go.mod ] || ! grep -q "$CNI_PLUGINS_MOD $CNI_PLUGINS_VERSION" go.mod; then
		log "creating wrapper module for $CNI_PLUGINS_MOD $CNI_PLUGINS_VERSION"
		rm -f go.mod go.sum
		go mod init kubeha.local/flannel-cni-build >/dev/null 2>&1
		echo "require $CNI_PLUGINS_MOD $CNI_PLUGINS_VERSION" >>go.mod
	fi
	log "flannel-cni: resolving modules"
	go get "$CNI_PLUGINS_MOD/plugins/meta/flannel@$CNI_PLUGINS_VERSION" >/dev/null 2>&1 || go get "$CNI_PLUGINS_MOD/plugins/meta/flannel@$CNI_PLUGINS_VERSION"
	log "flannel-cni: building $CNI_PLUGINS_MOD/plugins/meta/flannel"
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/flannel-cni.tmp" "$CNI_PLUGINS_MOD/plugins/meta/flannel"
	if ldd "$OUT/flannel-cni.tmp" >/dev/null 2>&1; then
		echo "build.sh: flannel-cni is not statically linked" >&2
		exit 1
	fi
	mv -f "$OUT/flannel-cni.tmp" "$OUT/flannel-cni"
	echo "$stamp" >"$OUT/flannel-cni.stamp"
	log "flannel-cni: built in $(($(date +%s) - start))s"
fi
install -m 0644 "$SRC/Documentation/kube-flannel.yml" "$OUT/kube-flannel.yml"
log "done: $OUT"

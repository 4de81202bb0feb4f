# kubeha: `make test` is the README's test command and what CI runs.
GO ?= go
BIN ?= kubeha

.PHONY: build test fuzz example demo clean bench-ssh bench-scale bench-scale-1000 bench-overhead bench-failover conformance e2e-machines e2e e2e-upgrade e2e-clean

build:
	$(GO) build -o $(BIN) ./cmd/kubeha

# Unit tests, plus the ssh package against real sshd processes (needs root
# and openssh-server; .ci/run installs it).
test:
	$(GO) test -count=1 ./...

# Fuzz inventory → rendered files (issue 14) beyond the seeds `make test`
# runs: every inventory Validate accepts must render each file with exactly
# its template's line structure. Failures land in
# phases/testdata/fuzz/FuzzRenderedFiles/, which `make test` then replays.
# A bounded minimization (200 runs per new input) keeps the run fuzzing
# rather than shrinking each new input for up to a minute.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRenderedFiles$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./phases

# The README's first command: validate and render the seed 001 example.
example: build
	./$(BIN) inventory validate -i examples/keepalived-haproxy.yaml
	./$(BIN) render -i examples/keepalived-haproxy.yaml -o out/keepalived-haproxy

# The README's first command: a real HA cluster on five harness machines
# (root, docker.io, debootstrap; builds Kubernetes offline the first time).
# It ends with the command that puts the cluster in the user's kubeconfig
# and runs kubectl there (the cached kubectl when none is on PATH).
KUBECTL = $${KUBEHA_CACHE:-$$HOME/.cache/kubeha}/kube/v1.37.2/kubectl
demo: build
	bash e2e/deps.sh
	bash e2e/kube/build.sh
	$(GO) run ./e2e/cmd/kh-machines up -baked -names m1,m2,m3,w1,w2 -ip-base 21
	./$(BIN) apply -i examples/demo.yaml --output plain
	$(KUBECTL) --kubeconfig .kubeha/demo/admin.conf get nodes -o wide
	@echo "remove the machines with: make e2e-clean; to use kubectl on the cluster (context demo, server the VIP):"
	@k=kubectl; command -v kubectl >/dev/null || k=$(KUBECTL); echo "./$(BIN) kubeconfig -i examples/demo.yaml --merge && $$k --context demo get nodes"

clean:
	rm -rf $(BIN) out

# SSH transport benchmark (docs/performance.md): 50 real sshd hosts on
# loopback against pssh, a bare x/crypto/ssh loop and scp. Needs root, pssh.
bench-ssh:
	$(GO) run ./e2e/bench/ssh -hosts 50 -upload-mb 200 -rounds 3

# Scale benchmark (docs/performance.md): kubeha host-prep on 3 masters +
# 200 workers (Tier-1 hosts, real sshd) against pssh -p 50 and Ansible -f 50
# running the same facts and host-prep scripts (no fact gathering), every
# host's files checked byte for byte after each; kubeha render on its own
# line. Needs root; installs pssh and ansible-core when missing.
bench-scale:
	command -v parallel-ssh >/dev/null && command -v ansible-playbook >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pssh ansible-core; }
	$(GO) run ./e2e/bench/scale -masters 3 -workers 200 -forks 50 -rounds 3 -doc docs/performance.md -section bench-scale

# The same at 1000 hosts, kubeha alone (issue 18: host-prep + render at most
# 5x the 203-host figure, peak RSS under 200 MB). BASELINE=<seconds of
# kubeha host-prep + render from make bench-scale> prints the ratio. Needs
# root.
bench-scale-1000:
	$(GO) run ./e2e/bench/scale -masters 3 -workers 997 -forks 50 -rounds 3 -skip-pssh -skip-ansible -baseline $${BASELINE:-0} -doc docs/performance.md -section bench-scale-1000

# Overhead against a baseline commit (docs/performance.md): both binaries on
# the make-demo machines, alternating, ROUNDS rounds of apply from nothing,
# reruns, reset; the JSON report is kept in docs/bench/ (OVERHEAD_JSON to
# put it elsewhere) and docs/performance.md's table is made from it. Needs
# root and the harness.  BASE=<commit> make bench-overhead
OVERHEAD_JSON ?= docs/bench/overhead.json
bench-overhead:
	BASE=$(BASE) ROUNDS=$${ROUNDS:-2} KUBEHA_BENCH_OVERHEAD=$(OVERHEAD_JSON) bash e2e/bench/overhead/run.sh
	$(GO) run ./e2e/bench/overhead -doc docs/performance.md < $(OVERHEAD_JSON)

# Failover as clients feel it (docs/failover.md): each setup's cluster,
# CRASHES crashes of its VIP holder (or of a master, for the local proxy),
# a client asking /readyz every 20 ms; the JSON report is kept in
# docs/bench/ and docs/failover.md's table is made from it. About 14
# minutes per setup with 10 crashes.  MODES= any of masters, dedicated,
# static-pods, local-proxy, kube-vip (default all). kube-vip needs
# KUBEHA_KUBE_VIP_BINARY (as TestKubeVIP; skipped without it unless named)
# and KUBEHA_KUBE_VIP_VERSION for the report. REPORT (docs/bench/REPORT.json)
# and SECTION (docs/failover.md's) keep a partial run from replacing the
# full one: REPORT=failover-kube-vip SECTION=bench-failover-kube-vip.
bench-failover: e2e-machines
	mkdir -p docs/bench
	KUBEHA_BENCH_FAILOVER=$(CURDIR)/docs/bench/$${REPORT:-failover}.json KUBEHA_BENCH_CRASHES=$${CRASHES:-10} KUBEHA_BENCH_MODES=$${MODES:-} \
		$(GO) test -tags e2e -count=1 -p 1 -timeout 300m -v ./e2e/cluster -run 'TestBenchFailover$$'
	$(GO) run ./e2e/bench/failover -doc docs/failover.md -section $${SECTION:-bench-failover} < docs/bench/$${REPORT:-failover}.json

# Kubernetes conformance (docs/conformance.md): the HA cluster of make
# demo, every [Conformance] spec whose images can be made offline, PROCS
# processes at a time ([Serial] ones after, alone), the VIP holder off the
# network for 30 s CRASH_AFTER into the run; the JSON report is kept in
# docs/bench/ and docs/conformance.md's table is made from it. FOCUS=ci
# runs CI's subset instead.
conformance: e2e-machines
	mkdir -p docs/bench
	KUBEHA_CONFORMANCE=$(CURDIR)/docs/bench/conformance.json KUBEHA_CONFORMANCE_PROCS=$${PROCS:-3} \
		KUBEHA_CONFORMANCE_CRASH_AFTER=$${CRASH_AFTER:-10m} KUBEHA_CONFORMANCE_FOCUS=$${FOCUS:-} \
		$(GO) test -tags e2e -count=1 -p 1 -timeout 300m -v ./e2e/cluster -run 'TestConformance$$'
	$(GO) run ./e2e/bench/conformance -doc docs/conformance.md < docs/bench/conformance.json

# e2e machines (issue 4): systemd machines as containers, run by the
# harness's own dockerd in network namespace kh-e2e. Needs root, docker.io,
# debootstrap. Caches live in ${KUBEHA_CACHE:-$HOME/.cache/kubeha}.
e2e-machines:
	bash e2e/deps.sh
	bash e2e/kube/build.sh
	bash e2e/kube/build.sh e2e.test agnhost nnp sample-apiserver ginkgo
	$(GO) run ./e2e/cmd/kh-machines images

e2e: e2e-machines
	# -p 1: the scenarios share one harness (namespace, bridge, dockerd).
	$(GO) test -tags e2e -count=1 -p 1 -timeout 88m ./e2e/...

# The HA scenario built at v1.36.3 and upgraded to v1.37.2 before its other
# day-2 operations (not in CI, which it would take past 90 minutes: see
# e2e/cluster/upgrade_e2e_test.go). Builds v1.36.3 itself when not cached.
e2e-upgrade: e2e-machines
	KUBEHA_E2E_UPGRADE=1 $(GO) test -tags e2e -count=1 -p 1 -timeout 88m -v ./e2e/cluster -run 'TestHAClusterKeepalivedHAProxy$$'

e2e-clean:
	$(GO) run ./e2e/cmd/kh-machines clean

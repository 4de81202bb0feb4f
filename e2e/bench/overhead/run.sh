#!/usr/bin/env bash
# Same-run overhead comparison (docs/performance.md): kubeha at BASE
# ("before") against the working tree ("after"), on the `make demo`
# machines, alternating, ROUNDS rounds; each round per binary: apply from
# nothing, three no-change reruns, reset. record/ adds each turn to a JSON
# report (benchutil.OverheadReport): the apply's wall time (to the end of
# its verify phase, every node Ready), kubeadm's critical path (init, each
# control-plane join in turn, worker joins past the last of them:
# benchutil.CriticalPath, from the apply's JSON events), their ratio, the
# sum of every kubeadm command's duration for reference (worker joins
# overlap the control-plane joins, so it counts time twice), every
# phase's duration, the apply's time outside the critical path split into
# verify's (waiting for the cluster to settle, which kubeadm's commands
# never do) and the rest, the ratio without verify, and the reruns; the
# run's date, commit (-dirty for a changed tree) and BASE head it. After the last round the report goes to KUBEHA_BENCH_OVERHEAD
# (docs/bench/overhead.json, relative to the repository root; a failed run
# leaves that file as it was) and its Markdown table to stdout; `make
# bench-overhead` then writes the table into docs/performance.md. Needs
# root and the harness (make e2e-machines).
#   BASE=bb70cd0 ROUNDS=2 bash e2e/bench/overhead/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
BASE=${BASE:?name the baseline commit: BASE=<commit>}
ROUNDS=${ROUNDS:-2}
out=${KUBEHA_BENCH_OVERHEAD:-docs/bench/overhead.json}
mkdir -p "$(dirname "$out")"
# What is measured is fixed at the start: the after binary is built from
# the tree as it is now.
date=$(date -u +%Y-%m-%d)
commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain)" ]; then commit=$commit-dirty; fi
base=$(git rev-parse --short "$BASE^{commit}")
work=$(mktemp -d)
trap 'go run ./e2e/cmd/kh-machines clean >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go build -o "$work/kubeha-after" ./cmd/kubeha
go build -o "$work/record" ./e2e/bench/overhead/record
go build -o "$work/table" ./e2e/bench/overhead
mkdir "$work/base"
git archive "$base" | tar -x -C "$work/base"
(cd "$work/base" && go build -o "$work/kubeha-before" ./cmd/kubeha)
go run ./e2e/cmd/kh-machines up -baked -names m1,m2,m3,w1,w2 -ip-base 21 >"$work/machines.log" 2>&1
echo "commit $commit against $base, $date" >&2
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
for round in $(seq "$ROUNDS"); do
	for b in after before; do
		bin="$work/kubeha-$b"
		s=$(date +%s%N)
		"$bin" apply -i examples/demo.yaml --output json >"$work/apply.json" 2>"$work/apply.err" || { tail -n 40 "$work/apply.json" "$work/apply.err" >&2; exit 1; }
		apply=$(ms "$s")
		reruns=()
		for _ in 1 2 3; do
			s=$(date +%s%N)
			"$bin" apply -i examples/demo.yaml --output plain >/dev/null 2>&1
			reruns+=("$(ms "$s")")
		done
		"$bin" reset -i examples/demo.yaml --yes >"$work/reset.log" 2>&1 || { cat "$work/reset.log" >&2; exit 1; }
		# Both binaries' events, read by the same code.
		"$work/record" -report "$work/overhead.json" -date "$date" -commit "$commit" -base "$base" \
			-round "$round" -binary "$b" -apply-ms "$apply" -reruns-ms "$(IFS=,; echo "${reruns[*]}")" <"$work/apply.json"
	done
done
cp "$work/overhead.json" "$out.tmp"
mv "$out.tmp" "$out"
echo "report written to $out" >&2
"$work/table" <"$out"

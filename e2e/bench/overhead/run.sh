#!/usr/bin/env bash
# Same-run overhead comparison (docs/performance.md): kubeha at BASE against
# the working tree, on the `make demo` machines, alternating, ROUNDS rounds;
# each round per binary: apply from nothing, three no-change reruns, reset.
# Prints one Markdown table row per binary and round: apply wall time,
# kubeadm's critical path (init, each control-plane join in turn, worker
# joins past the last of them: benchutil.CriticalPath through criticalpath/,
# from the apply's JSON events), their ratio, the sum of every kubeadm
# command's duration for reference (worker joins overlap the control-plane
# joins, so it counts time twice) and the reruns. Needs root and the harness
# (make e2e-machines).
#   BASE=bb70cd0 ROUNDS=2 bash e2e/bench/overhead/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
BASE=${BASE:?name the baseline commit: BASE=<commit>}
ROUNDS=${ROUNDS:-2}
work=$(mktemp -d)
trap 'go run ./e2e/cmd/kh-machines clean >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go build -o "$work/kubeha-after" ./cmd/kubeha
go build -o "$work/criticalpath" ./e2e/bench/overhead/criticalpath
mkdir "$work/base"
git archive "$BASE" | tar -x -C "$work/base"
(cd "$work/base" && go build -o "$work/kubeha-before" ./cmd/kubeha)
go run ./e2e/cmd/kh-machines up -baked -names m1,m2,m3,w1,w2 -ip-base 21 >"$work/machines.log" 2>&1
echo "commit $(git rev-parse --short HEAD) against $BASE, $(date -u +%Y-%m-%d)"
echo "| round | binary | apply | kubeadm's critical path | ratio (target ≤ 1.10) | kubeadm's commands summed | no-change reruns |"
echo "|---|---|---|---|---|---|---|"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
for round in $(seq "$ROUNDS"); do
	for b in after before; do
		bin="$work/kubeha-$b"
		s=$(date +%s%N)
		"$bin" apply -i examples/demo.yaml --output json >"$work/apply.json" 2>"$work/apply.err" || { tail -n 40 "$work/apply.json" "$work/apply.err" >&2; exit 1; }
		apply=$(ms "$s")
		# Both binaries' events, read by the same code: "critical sum" in ms.
		times=$("$work/criticalpath" <"$work/apply.json")
		read -r critical sum <<<"$times"
		reruns=()
		for _ in 1 2 3; do
			s=$(date +%s%N)
			"$bin" apply -i examples/demo.yaml --output plain >/dev/null 2>&1
			reruns+=("$(awk -v m="$(ms "$s")" 'BEGIN {printf "%.2f", m / 1000}')")
		done
		"$bin" reset -i examples/demo.yaml --yes >"$work/reset.log" 2>&1 || { cat "$work/reset.log" >&2; exit 1; }
		awk -v r="$round" -v b="$b" -v a="$apply" -v c="$critical" -v k="$sum" -v re="${reruns[*]}" 'BEGIN {
			gsub(" ", " s, ", re)
			printf "| %s | %s | %.1f s | %.1f s | %.2f | %.1f s | %s s |\n", r, b, a / 1000, c / 1000, a / c, k / 1000, re }'
	done
done

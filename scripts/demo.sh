#!/usr/bin/env bash
# The main job: plan the seed-003 fabric (leaf1, leaf2, spine3, spine4 and
# two servers per leaf), bring it up in network namespaces with closd on every
# switch, check it, measure a spine link failure and a silent failure, then do
# the same with FRR on every switch so the numbers have a baseline from the
# same run, print a report and tear everything down.
#
# Every number printed comes from a measurement in this run. Traffic stays
# inside the namespaces this script creates; the traps remove them even when
# a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo: needs root (network namespaces, veths, nft, routes)" >&2
	exit 1
fi

clos=bin/clos
export PATH="$PWD/bin:$PATH" # clos lab finds closd here
work=$(mktemp -d /tmp/clos-demo.XXXXXX)
# Lab names carry this run's id so parallel runs on one machine never meet.
run=$$
labs=()
cleanup() {
	for l in "${labs[@]}"; do
		"$clos" lab down --name "$l" >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
# json FIELD FILE: a number from clos's indented JSON output.
json() { sed -n "s/^ *\"$1\": *\\([-0-9.e]*\\),\\{0,1\\}\$/\\1/p" "$2" | head -n 1; }

step "plan: clos plan --preset seed-003"
"$clos" plan --preset seed-003 -o "$work/plan"

declare -A up_s sessions check gap_link p50_link lost_link gap_silent p50_silent lost_silent reconv_silent hit_silent flows rss
for kind in closd frr; do
	lab="demo$run-$kind"
	labs+=("$lab")
	step "$kind: clos lab up --kind $kind"
	t0=$(date +%s.%N)
	"$clos" lab up "$work/plan/fabric.yaml" --name "$lab" --kind "$kind"
	t1=$(date +%s.%N)
	up_s[$kind]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

	"$clos" lab status --name "$lab" --json >"$work/$kind-status.json"
	sessions[$kind]=$(grep -c '"state": "Established"' "$work/$kind-status.json" || true)

	step "$kind: clos lab check"
	if "$clos" lab check --name "$lab"; then check[$kind]=ok; else check[$kind]=FAILED; fi

	step "$kind: clos lab measure -- fail spine3:swp1 (carrier loss)"
	"$clos" lab measure --name "$lab" --json -- fail spine3:swp1 | tee "$work/$kind-link.json"
	gap_link[$kind]=$(json max_gap_ms "$work/$kind-link.json")
	lost_link[$kind]=$(json lost "$work/$kind-link.json")
	p50_link[$kind]=$(json p50_gap_ms "$work/$kind-link.json")
	flows[$kind]=$(json flows "$work/$kind-link.json")

	step "$kind: clos lab measure -- fail --silent spine3:swp1 (link up, packets dropped: only BFD can see it)"
	"$clos" lab measure --name "$lab" --json -- fail --silent spine3:swp1 | tee "$work/$kind-silent.json"
	gap_silent[$kind]=$(json max_gap_ms "$work/$kind-silent.json")
	lost_silent[$kind]=$(json lost "$work/$kind-silent.json")
	p50_silent[$kind]=$(json p50_hit_gap_ms "$work/$kind-silent.json")
	reconv_silent[$kind]=$(awk -v s="$(json reconverged_s "$work/$kind-silent.json")" 'BEGIN { printf "%.3f", s }')
	hit_silent[$kind]=$(json flows_hit "$work/$kind-silent.json")

	step "$kind: clos lab check after restore"
	"$clos" lab check --name "$lab" || check[$kind]=FAILED-after-restore

	# Memory of each switch's routing daemons with their child processes
	# (closd's BFD child, closd-bfd), from /proc: proportional set size, so
	# pages several processes share (closd's binary in its child, libfrr in
	# FRR's daemons) count once, not once per process as RSS would.
	total=0
	for pid in $(sed -n '/"pids"/,/\]/s/^ *\([0-9][0-9]*\),\{0,1\}$/\1/p' "$work/$kind-status.json"); do
		for p in $pid $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
			kb=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
			total=$((total + ${kb:-0}))
		done
	done
	rss[$kind]=$(awk -v t="$total" 'BEGIN { printf "%.1f", t / 4 / 1024 }')

	"$clos" lab down --name "$lab"
done

printf '\n== report: seed-003 (4 switches, 4 servers), BFD 100 ms x 3, same machine, same run\n\n'
printf '%-44s %14s %14s\n' "" "closd" "FRR 8.4"
printf '%-44s %14s %14s\n' "lab up until every session established (s)" "${up_s[closd]}" "${up_s[frr]}"
printf '%-44s %14s %14s\n' "BGP session ends established (of 8)" "${sessions[closd]}" "${sessions[frr]}"
printf '%-44s %14s %14s\n' "check: reachability and every ECMP uplink" "${check[closd]}" "${check[frr]}"
printf '%-44s %14s %14s\n' "link down spine3:swp1: max gap (ms)" "${gap_link[closd]}" "${gap_link[frr]}"
printf '%-44s %14s %14s\n' "link down spine3:swp1: p50 gap (ms)" "${p50_link[closd]}" "${p50_link[frr]}"
printf '%-44s %14s %14s\n' "link down spine3:swp1: packets lost" "${lost_link[closd]}" "${lost_link[frr]}"
printf '%-44s %14s %14s\n' "silent loss spine3:swp1: max gap (ms)" "${gap_silent[closd]}" "${gap_silent[frr]}"
printf '%-44s %14s %14s\n' "silent loss: p50 gap of the flows hit (ms)" "${p50_silent[closd]}" "${p50_silent[frr]}"
printf '%-44s %14s %14s\n' "silent loss spine3:swp1: flows hit (of ${flows[closd]})" "${hit_silent[closd]}" "${hit_silent[frr]}"
printf '%-44s %14s %14s\n' "silent loss spine3:swp1: packets lost" "${lost_silent[closd]}" "${lost_silent[frr]}"
printf '%-44s %14s %14s\n' "silent loss: reconverged after (s)" "${reconv_silent[closd]}" "${reconv_silent[frr]}"
printf '%-44s %14s %14s\n' "routing daemons' memory per switch (MiB PSS)" "${rss[closd]}" "${rss[frr]}"
printf '\nflows: %s UDP flows, two per ordered server pair (12 pairs), at 200 packets/s each; gaps are per flow,\n' "${flows[closd]}"
printf 'link down p50 is over all flows (a flow whose path never crossed the link has no gap); silent loss p50 is over the flows hit.\n'
printf 'This box is shared and has 2 cores: compare the columns, not the absolute numbers.\n'

for k in closd frr; do
	if [ "${check[$k]}" != ok ]; then
		echo "make demo: check failed on the $k fabric" >&2
		exit 1
	fi
done

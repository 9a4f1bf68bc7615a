#!/usr/bin/env bash
# The main job: plan the seed-003 fabric, bring it up in network namespaces
# with closd, check it, measure failures, report, tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! bin/clos lab --help >/dev/null 2>&1; then
	cat >&2 <<'MSG'
make demo: the main job needs `clos lab` (a planned fabric run in network
namespaces with closd on every node), which this build does not include yet.
It arrives with the lab issue; nothing has been run.
What this build can do today:
  bin/clos plan --preset seed-003 -o /tmp/seed-003   # plan the fabric and write its configs
  make test                                          # every test
MSG
	exit 1
fi

#!/usr/bin/env bash
# Optional: the anchors' own ceilings (../shared/anchors: COPY of ~300 B rows in batches of 1,000, and the
# Node SHA-256 chain), run now on this machine, for a same-run comparison with `npm run bench`.
# Not part of `npm run bench`; needs the anchors folder next to the checkout.
#
#   bench/anchors.sh                      # copy-batch sha, RUNS=3
#   RUNS=1 bench/anchors.sh copy sha      # any modes of bench-ceilings.sh
#
# The anchors need `pg` and `pg-copy-streams`; when their own node_modules is missing (npm ci there),
# this project's are used through NODE_PATH (same APIs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
anchors=${ANCHORS_DIR:-$here/../../shared/anchors}
if [ ! -x "$anchors/bench-ceilings.sh" ]; then
  echo "anchors not found at $anchors (set ANCHORS_DIR)" >&2
  exit 2
fi
if [ ! -d "$anchors/node_modules/pg" ]; then
  export NODE_PATH="$here/../node_modules${NODE_PATH:+:$NODE_PATH}"
fi
export QUIET_MAX=${QUIET_MAX:-60} RUNS=${RUNS:-3}
# The anchors' scripts keep their state in RUNDIR and their table in PGDATABASE (anchor_bench).
exec "$anchors/bench-ceilings.sh" "${@:-copy-batch sha}"

#!/usr/bin/env bash
# xDS benchmark: 1,000 simulated Envoy gateways in 5 localities against
# Meridian's ADS server; time from a Plan change to every gateway having
# received and ACKed it, and the server's memory. See bench/xds/README.md.
#
#   bench/xds/run.sh            # one run, about 10 seconds
#   COUNT=3 bench/xds/run.sh    # three runs
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
COUNT=${COUNT:-1}
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: COUNT must be a positive integer, got '$COUNT'" >&2; exit 1; }
echo "xDS benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
exec go test -run '^$' -bench '^BenchmarkPlanToACK$' -benchtime 1x -benchmem -count "$COUNT" ./xds

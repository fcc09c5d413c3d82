#!/usr/bin/env bash
# Health-probing cost: 10,000 targets (100 services x 100 loopback
# addresses, bench/health/targets in a process of its own) probed every
# second; the prober's own CPU, allocations per probe and goroutines, with
# the TCP probe dialed one by one (tcp/dial, as before issue 21 and on
# non-Linux builds) and in the connector's rounds (tcp/batch) back to back,
# then HTTP. See bench/health/README.md.
#
#   bench/health/run.sh                       # one run of each, about 1 minute
#   COUNT=3 bench/health/run.sh               # three runs of each, interleaved
#   BENCH='ProberCost/tcp' bench/health/run.sh
#   PROFILE=tcp/batch bench/health/run.sh     # also a CPU profile of one, in /tmp
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
COUNT=${COUNT:-1}
BENCH=${BENCH:-ProberCost}
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: COUNT must be a positive integer, got '$COUNT'" >&2; exit 1; }
echo "health probing cost, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n ${PROFILE:-} ]]; then
	out=/tmp/health-${PROFILE//\//-}
	go test -c -o "$out.test" ./health
	(cd health && "$out.test" -test.run '^$' -test.bench "ProberCost/$PROFILE\$" -test.benchtime 1x -test.cpuprofile "$out.prof")
	echo "profile: go tool pprof -top $out.test $out.prof"
	exit
fi
# -count runs every sub-benchmark in turn, so old and new alternate.
for i in $(seq "$COUNT"); do
	go test -run '^$' -bench "$BENCH" -benchtime 1x ./health | grep -E '^Benchmark|FAIL|cost_bench'
done

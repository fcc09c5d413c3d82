#!/usr/bin/env bash
# xDS benchmark: simulated xDS clients (Envoy-style gateways and gRPC-style
# clients) against Meridian's ADS server; time from a Plan change to every
# client having received and ACKed it, the bytes of endpoints pushed, and
# the server's memory. See bench/xds/README.md.
#
#   bench/xds/run.sh                 # 1,000 gateways in 5 localities, about 20 s
#   COUNT=3 bench/xds/run.sh         # three runs
#   SCALE=10k bench/xds/run.sh       # 500 gateways + 9,500 gRPC clients in 20 localities
#   SCALE=10k DELTA=1 bench/xds/run.sh   # the same over incremental (delta) xDS
#   PROFILE=/tmp/prof bench/xds/run.sh   # also writes the server's cpu.pprof and heap.pprof there
#
# The counts can be set one by one: XDS_BENCH_GATEWAYS, XDS_BENCH_GRPC,
# XDS_BENCH_LOCALITIES, XDS_BENCH_SERVICES, XDS_BENCH_ROUNDS (rounds of each
# kind). Every run stops by itself: go test's -timeout bounds it, and the
# client process exits when the benchmark does.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
COUNT=${COUNT:-1}
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: COUNT must be a positive integer, got '$COUNT'" >&2; exit 1; }
case ${SCALE:-} in
'') ;;
10k)
	export XDS_BENCH_GATEWAYS=${XDS_BENCH_GATEWAYS:-500} XDS_BENCH_GRPC=${XDS_BENCH_GRPC:-9500}
	export XDS_BENCH_LOCALITIES=${XDS_BENCH_LOCALITIES:-20} XDS_BENCH_ROUNDS=${XDS_BENCH_ROUNDS:-10}
	;;
*) echo "run.sh: SCALE is 10k or unset, got '$SCALE'" >&2; exit 1 ;;
esac
export XDS_BENCH_DELTA=${DELTA:-0}
if [[ -n ${PROFILE:-} ]]; then
	mkdir -p "$PROFILE"
	export XDS_BENCH_PROFILE=$PROFILE
fi
# 10,000 clients are 10,000 open files in each process: both raise their
# soft limit up to the hard one, which must allow it.
echo "xDS benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo unknown), open files hard limit $(ulimit -Hn)"
env | grep '^XDS_BENCH_' | sort || true
exec go test -run '^$' -bench '^BenchmarkPlanToACK$' -benchtime 1x -benchmem -count "$COUNT" -timeout 30m ./xds

#!/usr/bin/env bash
# Health-probing cost: 10,000 targets (100 services x 100 addresses,
# bench/health/targets in a process of its own) probed every second; the
# prober's own CPU, allocations per probe and goroutines, with the TCP probe
# dialed one by one (tcp/dial, as before issue 21 and on non-Linux builds)
# and in the connector's rounds (tcp/batch) back to back, then HTTP. See
# bench/health/README.md.
#
#   bench/health/run.sh                       # one run of each, about 1 minute
#   COUNT=3 bench/health/run.sh               # three runs of each, interleaved
#   BENCH='ProberCost/tcp' bench/health/run.sh
#   PROFILE=tcp/batch bench/health/run.sh     # also a CPU profile of one, in /tmp
#   NETNS=1 bench/health/run.sh               # targets behind a veth pair (root)
#
# By default the targets listen on loopback (127.1.0.0/16), where the kernel
# work of their half of every handshake runs inside the prober's own system
# calls and counts as the prober's CPU. NETNS=1 puts them in a network
# namespace of their own behind a veth pair, on CPU $TARGET_CPU (1), with
# the prober on CPU $PROBER_CPU (0) and the received packets of both veth
# ends steered (RPS) to the targets' CPU, as a NIC's interrupts would take
# them off the prober's system calls; the namespace is always removed.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
COUNT=${COUNT:-1}
BENCH=${BENCH:-ProberCost}
NETNS=${NETNS:-}
PROBER_CPU=${PROBER_CPU:-0}
TARGET_CPU=${TARGET_CPU:-1}
die() { echo "run.sh: $*" >&2; exit 1; }
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || die "COUNT must be a positive integer, got '$COUNT'"

bin=/tmp/health-cost-$$.test
cleanup() {
	rm -f "$bin"
	if [[ -n ${ns:-} ]]; then
		ip netns del "$ns" 2>/dev/null || true # takes the veth pair and its route along
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run=() # the command line the benchmark binary runs under
if [[ -n $NETNS ]]; then
	[[ $(id -u) == 0 ]] || die "NETNS=1 needs root (ip netns, a veth pair, RPS in sysfs)"
	command -v ip >/dev/null || die "NETNS=1 needs ip (Debian: iproute2)"
	command -v taskset >/dev/null || die "NETNS=1 needs taskset (Debian: util-linux)"
	[[ $PROBER_CPU != "$TARGET_CPU" && -d /sys/devices/system/cpu/cpu$PROBER_CPU && -d /sys/devices/system/cpu/cpu$TARGET_CPU ]] ||
		die "PROBER_CPU ($PROBER_CPU) and TARGET_CPU ($TARGET_CPU) must be two CPUs of this machine"
	ns=meridian-health-$$
	host=mhp$$ peer=mht$$ # the veth ends: the prober's, the targets'
	rps=$(printf '%x' $((1 << TARGET_CPU)))
	ip netns add "$ns"
	ip link add "$host" type veth peer name "$peer" netns "$ns"
	ip addr add 10.211.0.1/24 dev "$host"
	ip link set "$host" up
	ip -n "$ns" addr add 10.211.0.2/24 dev "$peer"
	ip -n "$ns" link set "$peer" up
	ip -n "$ns" link set lo up
	# Every address of 10.212.0.0/16 is the targets' namespace's own, as
	# 127.0.0.0/8 is lo's; the prober's namespace routes it over the veth.
	ip -n "$ns" route add local 10.212.0.0/16 dev lo
	ip route add 10.212.0.0/16 via 10.211.0.2 dev "$host"
	echo "$rps" >"/sys/class/net/$host/queues/rx-0/rps_cpus"
	ip netns exec "$ns" sh -c "echo $rps >/sys/class/net/$peer/queues/rx-0/rps_cpus"
	export HEALTH_BENCH_TARGETS_WRAP="ip netns exec $ns taskset -c $TARGET_CPU"
	export HEALTH_BENCH_TARGETS_PREFIX=10.212
	run=(taskset -c "$PROBER_CPU")
	mode="netns: targets on CPU $TARGET_CPU behind veth $host (RPS to CPU $TARGET_CPU), prober on CPU $PROBER_CPU"
else
	mode="loopback"
fi
echo "health probing cost, $mode, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
go test -c -o "$bin" ./health
if [[ -n ${PROFILE:-} ]]; then
	out=/tmp/health-${PROFILE//\//-}
	cp "$bin" "$out.test"
	(cd health && "${run[@]}" "$out.test" -test.run '^$' -test.bench "ProberCost/$PROFILE\$" -test.benchtime 1x -test.cpuprofile "$out.prof") |
		grep -E '^Benchmark|FAIL|cost_bench'
	echo "profile: go tool pprof -top $out.test $out.prof"
	exit
fi
# -count runs every sub-benchmark in turn, so old and new alternate.
for i in $(seq "$COUNT"); do
	(cd health && "${run[@]}" "$bin" -test.run '^$' -test.bench "$BENCH" -test.benchtime 1x) | grep -E '^Benchmark|FAIL|cost_bench'
done

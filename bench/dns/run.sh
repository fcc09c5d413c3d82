#!/usr/bin/env bash
# DNS benchmark: Meridian against CoreDNS and gdnsd, the same zone and the same
# query mix, one server at a time on this machine, with dnsperf over UDP on
# loopback. See bench/dns/README.md.
#
#   bench/dns/run.sh
#
# Environment (defaults in brackets):
#   DURATION [20]          seconds of each peak-throughput run (dnsperf -l)
#   HALF_DURATION [15]     seconds of each half-of-peak latency run (dnsperf -l)
#   WARMUP [3]             seconds of warm-up before each server's runs
#   CLIENTS [4]            dnsperf -c (UDP sockets)
#   THREADS [2]            dnsperf -T
#   OUTSTANDING [100]      dnsperf -q (queries in flight at once)
#   SERVERS [meridian coredns gdnsd]  which servers to run, in this order
#   ROUNDS [1]             peak-throughput runs per server; rounds after the
#                          first rotate the servers' order, and the report
#                          gives each run, the median, and the median of the
#                          per-round ratios (the machine's noise shows)
#   PIN [0]                1: the server on CPU 0 and dnsperf on CPU 1
#                          (taskset), so that neither steals the other's core
#   MERIDIAN_BIN           a Meridian binary to run instead of building
#                          ./cmd/meridian from this work tree
#   MERIDIAN_NO_RECORDS    1: drop the `record` lines from Meridian's config
#                          (for a Meridian that does not parse them yet)
#   RESULTS_DIR [bench/dns/.cache/results]  raw dnsperf output and server logs
set -Eeuo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DIR/../.." && pwd)

DURATION=${DURATION:-20}
HALF_DURATION=${HALF_DURATION:-15}
WARMUP=${WARMUP:-3}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
OUTSTANDING=${OUTSTANDING:-100}
SERVERS=${SERVERS:-meridian coredns gdnsd}
MERIDIAN_NO_RECORDS=${MERIDIAN_NO_RECORDS:-}
MERIDIAN_BIN=${MERIDIAN_BIN:-}
RESULTS_DIR=${RESULTS_DIR:-$DIR/.cache/results}
CACHE_BIN=$DIR/.cache/bin
COREDNS_VERSION=v1.14.7

ZONE=gslb.example.com
ZONEFILE=$DIR/$ZONE.zone
QUERIES=$DIR/queries.txt
# EDNS Client Subnet (option 8) for 81.2.69.0/24, a UK network: family 1
# (IPv4), source prefix 24, scope 0, address 81.2.69 (51 02 45).
ECS=8:00011800510245
ECS_SUBNET=81.2.69.0/24
EU_WEST="192.0.2.10 192.0.2.11"

declare -A PORT=([meridian]=5301 [coredns]=5302 [gdnsd]=5303)

die() { echo "run.sh: error: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

ROUNDS=${ROUNDS:-1}
PIN=${PIN:-0}
SERVER_CPU=() DNSPERF_CPU=()
if [[ $PIN == 1 ]]; then
	(($(nproc) >= 2)) || die "PIN=1 needs two CPUs"
	SERVER_CPU=(taskset -c 0) DNSPERF_CPU=(taskset -c 1)
fi

for v in DURATION HALF_DURATION WARMUP CLIENTS THREADS OUTSTANDING ROUNDS; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
for s in $SERVERS; do
	[[ -n ${PORT[$s]:-} ]] || die "unknown server '$s' in SERVERS (known: meridian coredns gdnsd)"
done

# --- tools -----------------------------------------------------------------

install_debs() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	[[ $(id -u) == 0 ]] || die "need Debian packages ${missing[*]}: run as root or apt-get install them"
	log "installing ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; then
		apt-get update -q >&2 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
			die "apt-get install ${missing[*]} failed"
	fi
}

# dnsperf and gdnsd are measured; dig checks every server's answers first.
install_debs dnsperf gdnsd bind9-dnsutils
for t in dnsperf gdnsd dig go ss; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done

# The Debian package starts gdnsd on port 53 under systemd: stop it so that
# it neither answers for us nor takes CPU during the runs.
if command -v systemctl >/dev/null && systemctl is-active --quiet gdnsd 2>/dev/null; then
	log "stopping and disabling the Debian gdnsd service"
	systemctl stop gdnsd || die "cannot stop the gdnsd service"
	systemctl disable gdnsd >/dev/null 2>&1 || true
fi
if pgrep -x gdnsd >/dev/null; then
	echo "run.sh: warning: other gdnsd processes are running (not ours, left alone): $(pgrep -x gdnsd | tr '\n' ' ')" >&2
fi

COREDNS=$CACHE_BIN/coredns
if [[ " $SERVERS " == *" coredns "* ]]; then
	if [[ ! -x $COREDNS ]] || ! "$COREDNS" -version 2>/dev/null | grep -q "CoreDNS-${COREDNS_VERSION#v}"; then
		log "building CoreDNS $COREDNS_VERSION into $CACHE_BIN (takes about 4 minutes)"
		mkdir -p "$CACHE_BIN"
		(cd "$DIR" && GOBIN=$CACHE_BIN GOFLAGS= GOWORK=off go install "github.com/coredns/coredns@$COREDNS_VERSION") >&2 ||
			die "go install github.com/coredns/coredns@$COREDNS_VERSION failed"
		[[ -x $COREDNS ]] || die "CoreDNS build produced no $COREDNS"
	fi
fi

# --- work area, cleanup ------------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/meridian-dnsbench.XXXXXX")
rm -rf "$RESULTS_DIR"
mkdir -p "$RESULTS_DIR"
SERVER_PID=
SERVER_NAME=
DNSPERF_PID=

stop_server() {
	[[ -n $SERVER_PID ]] || return 0
	local pid=$SERVER_PID i
	SERVER_PID=
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$?
	if [[ -n $DNSPERF_PID ]]; then
		kill -TERM "$DNSPERF_PID" 2>/dev/null || true
		wait "$DNSPERF_PID" 2>/dev/null || true
	fi
	stop_server
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "run.sh: error: line $LINENO: \`$BASH_COMMAND\` failed" >&2' ERR
trap 'echo "run.sh: interrupted" >&2; exit 130' INT
trap 'echo "run.sh: terminated" >&2; exit 143' TERM

# --- servers ---------------------------------------------------------------

if [[ " $SERVERS " == *" meridian "* ]]; then
	if [[ -n $MERIDIAN_BIN ]]; then
		[[ -x $MERIDIAN_BIN ]] || die "MERIDIAN_BIN=$MERIDIAN_BIN is not an executable file"
		log "using Meridian binary $MERIDIAN_BIN"
		cp "$MERIDIAN_BIN" "$TMP/meridian"
	else
		log "building Meridian from $REPO"
		(cd "$REPO" && go build -o "$TMP/meridian" ./cmd/meridian) >&2 ||
			die "go build ./cmd/meridian failed in $REPO (set MERIDIAN_BIN to benchmark a binary built elsewhere)"
	fi
	if [[ -n $MERIDIAN_NO_RECORDS && $MERIDIAN_NO_RECORDS != 0 ]]; then
		grep -v -E '^[[:space:]]*record[[:space:]]' "$DIR/meridian.conf" >"$TMP/meridian.conf"
	else
		cp "$DIR/meridian.conf" "$TMP/meridian.conf"
	fi
fi

# gdnsd: its own config directory, run and state directories under $TMP.
mkdir -p "$TMP/gdnsd/zones" "$TMP/gdnsd/run" "$TMP/gdnsd/state"
cp "$ZONEFILE" "$TMP/gdnsd/zones/$ZONE"
cat >"$TMP/gdnsd/config" <<EOF
options => {
  listen => [ 127.0.0.1:${PORT[gdnsd]} ]
  run_dir => $TMP/gdnsd/run
  state_dir => $TMP/gdnsd/state
}
EOF

cat >"$TMP/Corefile" <<EOF
$ZONE:${PORT[coredns]} {
    bind 127.0.0.1
    file $ZONEFILE
    errors
}
EOF

server_version() {
	case $1 in
	meridian)
		if [[ -z $MERIDIAN_BIN ]] && git -C "$REPO" rev-parse --short HEAD >/dev/null 2>&1; then
			# The work tree's commit, +dirty with uncommitted changes (bench/dns aside).
			echo "$(git -C "$REPO" rev-parse --short HEAD)$([[ -z $(git -C "$REPO" status --porcelain -- . ':!bench/dns') ]] || echo +dirty)"
		else
			"$TMP/meridian" version 2>/dev/null | awk '{print $2}'
		fi
		;;
	coredns) "$COREDNS" -version 2>/dev/null | sed -n 's/^CoreDNS-//p' | head -1 ;;
	gdnsd) dpkg-query -W -f='${Version}' gdnsd 2>/dev/null ;;
	esac
}

port_busy() { [[ -n $(ss -Hlun "sport = :$1" 2>/dev/null) ]]; }

start_server() {
	local name=$1 port=${PORT[$1]} logf=$RESULTS_DIR/$1.log i
	port_busy "$port" && die "UDP port 127.0.0.1:$port is already in use: something else would answer for $name"
	case $name in
	meridian)
		"${SERVER_CPU[@]}" "$TMP/meridian" serve -config "$TMP/meridian.conf" -log-level warn >"$logf" 2>&1 &
		;;
	coredns)
		"${SERVER_CPU[@]}" "$COREDNS" -conf "$TMP/Corefile" -quiet >"$logf" 2>&1 &
		;;
	gdnsd)
		gdnsd -c "$TMP/gdnsd" checkconf >"$logf" 2>&1 || {
			cat "$logf" >&2
			die "gdnsd checkconf failed"
		}
		"${SERVER_CPU[@]}" gdnsd -c "$TMP/gdnsd" start >"$logf" 2>&1 &
		;;
	esac
	SERVER_PID=$!
	SERVER_NAME=$name
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			SERVER_PID=
			echo "--- $logf" >&2
			cat "$logf" >&2
			if [[ $name == meridian ]] && grep -q 'unknown directive "record"' "$logf"; then
				die "this Meridian does not parse the \`record\` directive yet; run with MERIDIAN_NO_RECORDS=1 to benchmark it without the static records"
			fi
			die "$name exited at start-up (log above)"
		fi
		if dig +time=1 +tries=1 +norec -p "$port" @127.0.0.1 "$ZONE" SOA 2>/dev/null | grep -q 'status: NOERROR'; then
			return 0
		fi
		sleep 0.2
	done
	die "$name did not answer $ZONE SOA on 127.0.0.1:$port within 20 s (log: $logf)"
}

# check_answers NAME: the server gives the answers the benchmark assumes.
check_answers() {
	local name=$1 got want
	q() { dig +time=2 +tries=1 +norec -p "${PORT[$name]}" @127.0.0.1 "$@" 2>&1 || true; }
	# app: the eu-west addresses, all of them or (Meridian draws per query
	# by weight) some of them, and nothing else.
	got=$(q +short app.$ZONE A +subnet=$ECS_SUBNET | sort | xargs)
	local a
	[[ -n $got ]] || die "$name: no answer to app.$ZONE A for $ECS_SUBNET"
	for a in $got; do
		[[ " $EU_WEST " == *" $a "* ]] || die "$name: app.$ZONE A for $ECS_SUBNET is '$got', want some of '$EU_WEST' only"
	done
	q "nope1.$ZONE" A | grep -q 'status: NXDOMAIN' || die "$name: nope1.$ZONE A is not NXDOMAIN"
	if [[ $name == meridian && -n $MERIDIAN_NO_RECORDS && $MERIDIAN_NO_RECORDS != 0 ]]; then
		return 0
	fi
	got=$(q +short "www.$ZONE" A)
	[[ $got == 192.0.2.80 ]] || die "$name: www.$ZONE A is '$got', want 192.0.2.80"
	got=$(q +short "$ZONE" MX)
	[[ $got == "10 mail.$ZONE." ]] || die "$name: $ZONE MX is '$got', want '10 mail.$ZONE.'"
	got=$(q +short "$ZONE" TXT)
	[[ $got == '"v=spf1 -all"' ]] || die "$name: $ZONE TXT is '$got', want '\"v=spf1 -all\"'"
}

# --- measuring -------------------------------------------------------------

# dnsperf_run PORT OUTFILE EXTRA-ARGS...
dnsperf_run() {
	local port=$1 out=$2
	shift 2
	# In the background and waited for, so that a signal stops the run at
	# once (bash runs traps only between foreground commands).
	"${DNSPERF_CPU[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$QUERIES" -E "$ECS" \
		-c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" -t 2 "$@" >"$out" 2>&1 &
	DNSPERF_PID=$!
	if ! wait "$DNSPERF_PID"; then
		DNSPERF_PID=
		tail -20 "$out" >&2
		die "dnsperf failed (output: $out)"
	fi
	DNSPERF_PID=
}

# stat FILE KEY: a number from dnsperf's closing statistics.
stat() {
	case $2 in
	qps) awk -F: '/Queries per second:/ {gsub(/ /, "", $2); print $2}' "$1" ;;
	sent) awk -F: '/Queries sent:/ {split($2, a, " "); print a[1]}' "$1" ;;
	lost) awk -F: '/Queries lost:/ {split($2, a, " "); print a[1]}' "$1" ;;
	avg) awk '/Average Latency/ {print $4 * 1000}' "$1" ;;
	max) awk '/Average Latency/ {gsub(/\)/, "", $8); print $8 * 1000}' "$1" ;;
	sd) awk '/Latency StdDev/ {print $4 * 1000}' "$1" ;;
	rcodes) sed -n 's/^ *Response codes: *//p' "$1" | sed -E 's/([A-Z]+) [0-9]+ \(([0-9.]+)%\)/\1 \2%/g' ;;
	esac
}

# percentiles FILE: p50 p99 p99.9 in ms from dnsperf -v per-query lines
# ("> NOERROR name type 0.000123"; timeouts are "> T name type").
percentiles() {
	awk '$1 == ">" && $2 != "T" && $2 != "I" && NF >= 5 {print $NF}' "$1" | sort -g -S 256M |
		awk '{v[NR] = $1} END {
			if (NR == 0) {print "- - -"; exit}
			split("0.50 0.99 0.999", p, " ")
			for (i = 1; i <= 3; i++) {
				k = int(p[i] * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR
				printf "%s%.3f", (i > 1 ? " " : ""), v[k] * 1000
			}
			print ""
		}'
}

declare -A R
for s in $SERVERS; do
	log "$s: starting on 127.0.0.1:${PORT[$s]}"
	start_server "$s"
	check_answers "$s"
	R[$s,version]=$(server_version "$s")
	log "$s: warm-up ${WARMUP}s"
	dnsperf_run "${PORT[$s]}" "$RESULTS_DIR/$s.warmup.txt" -l "$WARMUP"
	log "$s: peak throughput ${DURATION}s"
	dnsperf_run "${PORT[$s]}" "$RESULTS_DIR/$s.peak.txt" -l "$DURATION"
	f=$RESULTS_DIR/$s.peak.txt
	for k in qps sent lost avg sd max rcodes; do R[$s,$k]=$(stat "$f" "$k"); done
	[[ -n ${R[$s,qps]} ]] || die "$s: no QPS in dnsperf output $f"
	half=$(awk -v q="${R[$s,qps]}" 'BEGIN {printf "%d", q / 2}')
	((half > 0)) || die "$s: peak QPS ${R[$s,qps]} too low for a half-of-peak run"
	R[$s,half]=$half
	log "$s: latency at half of peak, -Q $half, ${HALF_DURATION}s"
	dnsperf_run "${PORT[$s]}" "$RESULTS_DIR/$s.half.txt" -l "$HALF_DURATION" -Q "$half" -v -O suppress=timeouts
	f=$RESULTS_DIR/$s.half.txt
	for k in qps sent lost avg max; do R[$s,h$k]=$(stat "$f" "$k"); done
	read -r p50 p99 p999 < <(percentiles "$f")
	R[$s,p50]=$p50 R[$s,p99]=$p99 R[$s,p999]=$p999
	# Keep the summary, not the per-query lines (tens of MB).
	grep -v '^> ' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	echo "p50_ms=$p50 p99_ms=$p99 p999_ms=$p999 (from dnsperf -v per-query latencies)" >>"$f"
	stop_server
	sleep 1
done

# Rounds 2..ROUNDS: warm-up and peak only, the servers' order rotated.
declare -a ORDER=($SERVERS)
for ((r = 2; r <= ROUNDS; r++)); do
	ORDER=("${ORDER[@]:1}" "${ORDER[0]}")
	for s in "${ORDER[@]}"; do
		log "round $r/$ROUNDS: $s"
		start_server "$s"
		dnsperf_run "${PORT[$s]}" "$RESULTS_DIR/$s.warmup.$r.txt" -l "$WARMUP"
		dnsperf_run "${PORT[$s]}" "$RESULTS_DIR/$s.peak.$r.txt" -l "$DURATION"
		R[$s,qps,$r]=$(stat "$RESULTS_DIR/$s.peak.$r.txt" qps)
		[[ -n ${R[$s,qps,$r]} ]] || die "$s: no QPS in $RESULTS_DIR/$s.peak.$r.txt"
		stop_server
		sleep 1
	done
done
for s in $SERVERS; do R[$s,qps,1]=${R[$s,qps]}; done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# --- report ----------------------------------------------------------------

pct() { awk -v l="$1" -v s="$2" 'BEGIN {if (s > 0) printf "%.2f%%", 100 * l / s; else print "-"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a != "" && b > 0) printf "%.2f", a / b; else print "n/a"}'; }

echo
echo "DNS benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
echo "dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version //p'): UDP to 127.0.0.1, -c $CLIENTS -T $THREADS -q $OUTSTANDING, ECS $ECS_SUBNET (-E $ECS),"
[[ $PIN != 1 ]] || echo "PIN=1: every server on CPU 0, dnsperf on CPU 1"
echo "query mix $(basename "$QUERIES") (60% app A geo, 25% static, 15% NXDOMAIN); warm-up ${WARMUP}s, then peak ${DURATION}s, then half of peak ${HALF_DURATION}s"
if [[ " $SERVERS " == *" meridian "* && -n $MERIDIAN_NO_RECORDS && $MERIDIAN_NO_RECORDS != 0 ]]; then
	echo "MERIDIAN_NO_RECORDS=1: Meridian ran without its static records; its www/mail queries are NXDOMAIN and MX/TXT are NODATA"
fi
echo
echo "Phase 1: peak throughput (dnsperf -l $DURATION, no rate limit)"
printf '%-9s %-14s %10s %8s %8s %8s %7s  %s\n' server version QPS "avg ms" "sd ms" "max ms" lost "response codes"
for s in $SERVERS; do
	printf '%-9s %-14s %10.0f %8.3f %8.3f %8.3f %7s  %s\n' "$s" "${R[$s,version]:0:14}" "${R[$s,qps]}" \
		"${R[$s,avg]}" "${R[$s,sd]}" "${R[$s,max]}" "$(pct "${R[$s,lost]}" "${R[$s,sent]}")" "${R[$s,rcodes]}"
done
echo
if [[ -n ${R[meridian,qps]:-} ]]; then
	echo "Meridian/CoreDNS QPS: $(ratio "${R[meridian,qps]}" "${R[coredns,qps]:-}")    Meridian/gdnsd QPS: $(ratio "${R[meridian,qps]}" "${R[gdnsd,qps]:-}")"
	echo
fi
if ((ROUNDS > 1)); then
	echo "Peak QPS in each of $ROUNDS rounds (dnsperf -l $DURATION each; round 1 is phase 1)"
	printf '%-9s' server
	for ((r = 1; r <= ROUNDS; r++)); do printf ' %9s' "round $r"; done
	printf ' %9s\n' median
	for s in $SERVERS; do
		printf '%-9s' "$s"
		all=
		for ((r = 1; r <= ROUNDS; r++)); do printf ' %9.0f' "${R[$s,qps,$r]}"; all+=" ${R[$s,qps,$r]}"; done
		printf ' %9.0f\n' "$(echo "$all" | median)"
	done
	for other in coredns gdnsd; do
		[[ -n ${R[meridian,qps,1]:-} && -n ${R[$other,qps,1]:-} ]] || continue
		ratios=
		for ((r = 1; r <= ROUNDS; r++)); do ratios+=" $(ratio "${R[meridian,qps,$r]}" "${R[$other,qps,$r]}")"; done
		echo "Meridian/$other per round:$ratios; median $(echo "$ratios" | median)"
	done
	echo
fi
echo "Phase 2: latency at half of each server's peak (dnsperf -Q peak/2 -l $HALF_DURATION -v; percentiles over every answered query)"
printf '%-9s %10s %10s %8s %8s %8s %8s %8s %7s  %s\n' server "-Q" "got QPS" "avg ms" "p50 ms" "p99 ms" "p99.9 ms" "max ms" lost "p99 < 1 ms"
for s in $SERVERS; do
	ok=$(awk -v p="${R[$s,p99]}" 'BEGIN {print (p != "-" && p + 0 < 1) ? "yes" : "NO"}')
	printf '%-9s %10s %10.0f %8.3f %8s %8s %8s %8.3f %7s  %s\n' "$s" "${R[$s,half]}" "${R[$s,hqps]}" "${R[$s,havg]}" \
		"${R[$s,p50]}" "${R[$s,p99]}" "${R[$s,p999]}" "${R[$s,hmax]}" "$(pct "${R[$s,hlost]}" "${R[$s,hsent]}")" "$ok"
done
if [[ -n ${R[meridian,p99]:-} ]]; then
	echo
	echo "Meridian target: p99 < 1 ms at half of peak: $(awk -v p="${R[meridian,p99]}" 'BEGIN {print (p != "-" && p + 0 < 1) ? "met" : "NOT met"}') (p99 ${R[meridian,p99]} ms)"
fi
echo
echo "Raw dnsperf output and server logs: $RESULTS_DIR"

#!/usr/bin/env bash
# Random-subdomain flood against Meridian's signed zone, bounded in time:
# dnsperf sends unique random names under gslb.example.com with the DO bit
# (each needs its own signed denial, made online), while a second dnsperf
# sends legitimate queries (app.gslb.example.com A, DO, ECS) at a fixed rate
# and records their latency. See bench/dns/README.md.
#
#   bench/dns/flood.sh
#
# Environment (defaults in brackets):
#   FLOOD_DURATION [10]  seconds of flood (dnsperf -l)
#   FLOOD_NAMES [200000] random names in each flood network's query file
#   FLOOD_CLIENTS [4]    flood dnsperf -c; -q is OUTSTANDING
#   FLOOD_NETWORKS [1]   client networks the flood comes from: one dnsperf
#                        each, from 127.0.N.1 (a network may take a quarter of
#                        the signing budget; four or more can spend all of it)
#   OUTSTANDING [100]    flood dnsperf -q
#   FLOOD_QPS []         flood dnsperf -Q (empty: as fast as it goes)
#   FLOOD_DO [1]         0: the flood without DO (a control: NXDOMAIN, no signing)
#   LEGIT_QPS [1000]     rate of the legitimate queries (dnsperf -Q)
#   BASELINE [5]         seconds of legitimate queries alone before the flood
#   MERIDIAN_BIN         a Meridian binary instead of building ./cmd/meridian
#   RESULTS_DIR [bench/dns/.cache/flood]  raw dnsperf output and the log
set -Eeuo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DIR/../.." && pwd)

FLOOD_DURATION=${FLOOD_DURATION:-10}
FLOOD_NAMES=${FLOOD_NAMES:-200000}
FLOOD_CLIENTS=${FLOOD_CLIENTS:-4}
FLOOD_NETWORKS=${FLOOD_NETWORKS:-1}
OUTSTANDING=${OUTSTANDING:-100}
FLOOD_QPS=${FLOOD_QPS:-}
FLOOD_DO=${FLOOD_DO:-1}
LEGIT_QPS=${LEGIT_QPS:-1000}
BASELINE=${BASELINE:-5}
MERIDIAN_BIN=${MERIDIAN_BIN:-}
RESULTS_DIR=${RESULTS_DIR:-$DIR/.cache/flood}

ZONE=gslb.example.com
ECS=8:00011800510245 # 81.2.69.0/24, as run.sh
DNS_PORT=5308
HTTP_PORT=9308

die() { echo "flood.sh: error: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

for v in FLOOD_DURATION FLOOD_NAMES FLOOD_CLIENTS FLOOD_NETWORKS OUTSTANDING LEGIT_QPS BASELINE; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ -z $FLOOD_QPS || $FLOOD_QPS =~ ^[0-9]+$ ]] || die "FLOOD_QPS must be a positive integer"
for t in dnsperf dig go curl ss; do
	command -v "$t" >/dev/null || die "$t not found in PATH (bench/dns/run.sh installs dnsperf and dig)"
done
for p in $DNS_PORT; do
	[[ -z $(ss -Hlun "sport = :$p" 2>/dev/null) ]] || die "UDP port $p is in use"
done
[[ -z $(ss -Hltn "sport = :$HTTP_PORT" 2>/dev/null) ]] || die "TCP port $HTTP_PORT is in use"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/meridian-flood.XXXXXX")
rm -rf "$RESULTS_DIR"
mkdir -p "$RESULTS_DIR"
PID=
PIDS=()
cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	if [[ -n $PID ]]; then
		kill -TERM "$PID" 2>/dev/null || true
		sleep 0.5
		kill -KILL "$PID" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "flood.sh: interrupted" >&2; exit 130' INT
trap 'echo "flood.sh: terminated" >&2; exit 143' TERM

if [[ -n $MERIDIAN_BIN ]]; then
	cp "$MERIDIAN_BIN" "$TMP/meridian"
else
	log "building Meridian from $REPO"
	(cd "$REPO" && go build -o "$TMP/meridian" ./cmd/meridian) >&2 || die "go build ./cmd/meridian failed"
fi
mkdir -p "$TMP/keys"
sed -e "s/dns   127\.0\.0\.1:5301/dns   127.0.0.1:$DNS_PORT/" -e "s/http  127\.0\.0\.1:0/http  127.0.0.1:$HTTP_PORT/" \
	-e "/^zone $ZONE {/a\\    dnssec {\\n        keys $TMP/keys\\n    }" "$DIR/meridian.conf" >"$TMP/meridian.conf"
grep -q "127.0.0.1:$HTTP_PORT" "$TMP/meridian.conf" && grep -q "keys $TMP/keys" "$TMP/meridian.conf" ||
	die "could not rewrite meridian.conf (listen addresses, dnssec block)"

log "writing $FLOOD_NAMES random names for each of $FLOOD_NETWORKS networks"
for ((n = 0; n < FLOOD_NETWORKS; n++)); do
	awk -v n="$FLOOD_NAMES" -v seed="$((RANDOM * 64 + n))" -v zone="$ZONE" 'BEGIN {
		srand(seed); c = "abcdefghijklmnopqrstuvwxyz0123456789"
		for (i = 0; i < n; i++) {
			s = ""; for (j = 0; j < 14; j++) s = s substr(c, int(rand() * 36) + 1, 1)
			print s "." zone " A"
		}
	}' >"$TMP/flood.$n.txt"
done
echo "app.$ZONE A" >"$TMP/legit.txt"

"$TMP/meridian" serve -config "$TMP/meridian.conf" -log-level warn >"$RESULTS_DIR/meridian.log" 2>&1 &
PID=$!
for ((i = 0; i < 100; i++)); do
	kill -0 "$PID" 2>/dev/null || { cat "$RESULTS_DIR/meridian.log" >&2; die "meridian exited at start-up"; }
	dig +time=1 +tries=1 +norec -p "$DNS_PORT" @127.0.0.1 "$ZONE" SOA 2>/dev/null | grep -q 'status: NOERROR' && break
	sleep 0.2
done
((i < 100)) || die "meridian did not answer within 20 s"
dig +time=2 +tries=1 +norec +dnssec -p "$DNS_PORT" @127.0.0.1 "app.$ZONE" A +subnet=81.2.69.0/24 | grep -qE 'RRSIG[[:space:]]+A ' ||
	die "no RRSIG in Meridian's answer to app.$ZONE A with DO"

metric() { # metric NAME [LABEL="VALUE"]: the zone's counter, summed over its other labels
	curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" |
		awk -v m="$1{" -v z="zone=\"$ZONE\"" -v l="${2:-}" 'index($1, m) == 1 && index($1, z) && index($1, l) {n += $2} END {printf "%d", n}'
}
reasons() { # the online refusals by reason
	local r
	for r in zone network busy; do printf '%s=%s ' "$r" "$(metric meridian_dnssec_online_refused_total "reason=\"$r\"")"; done
}
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; } # utime + stime
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$PID/status"; }

# percentiles FILE: p50 p99 p99.9 (ms) and the count, from dnsperf -v lines.
percentiles() {
	awk '$1 == ">" && $2 != "T" && $2 != "I" && NF >= 5 {print $NF}' "$1" | sort -g |
		awk '{v[NR] = $1} END {
			if (NR == 0) {print "- - - 0"; exit}
			split("0.50 0.99 0.999", p, " ")
			for (i = 1; i <= 3; i++) {
				k = int(p[i] * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR
				printf "%.3f ", v[k] * 1000
			}
			print NR
		}'
}
legit() { # legit SECONDS OUT: from a network of its own, as a resolver
	dnsperf -s 127.0.0.1 -a 127.0.1.1 -p "$DNS_PORT" -d "$TMP/legit.txt" -D -E "$ECS" -c 1 -q 20 -t 1 \
		-Q "$LEGIT_QPS" -l "$1" -v >"$2" 2>&1
}

log "baseline: legitimate queries alone, $LEGIT_QPS/s for ${BASELINE}s"
legit "$BASELINE" "$RESULTS_DIR/legit.baseline.txt"
read -r b50 b99 b999 bn < <(percentiles "$RESULTS_DIR/legit.baseline.txt")

sig0=$(metric meridian_dnssec_signatures_total) ref0=$(metric meridian_dnssec_online_refused_total) why0=$(reasons)
t0=$(ticks) rss0=$(kb VmRSS) start=$(date +%s.%N)
log "flood: ${FLOOD_DURATION}s of random names$([[ $FLOOD_DO == 0 ]] && echo " without DO" || echo " with DO")${FLOOD_QPS:+ at $FLOOD_QPS/s}, legitimate queries at $LEGIT_QPS/s alongside"
fq=()
[[ -z $FLOOD_QPS ]] || fq=(-Q "$FLOOD_QPS")
[[ $FLOOD_DO == 0 ]] || fq+=(-D)
for ((n = 0; n < FLOOD_NETWORKS; n++)); do
	dnsperf -s 127.0.0.1 -a "127.0.$((10 + n)).1" -p "$DNS_PORT" -d "$TMP/flood.$n.txt" -c "$FLOOD_CLIENTS" -T 1 -q "$OUTSTANDING" -t 2 \
		-l "$FLOOD_DURATION" "${fq[@]}" >"$RESULTS_DIR/flood.$n.txt" 2>&1 &
	PIDS+=($!)
done
legit "$FLOOD_DURATION" "$RESULTS_DIR/legit.flood.txt" &
PIDS+=($!)
for p in "${PIDS[@]}"; do wait "$p" || die "dnsperf failed (see $RESULTS_DIR)"; done
PIDS=()
end=$(date +%s.%N) t1=$(ticks) rss1=$(kb VmRSS) hwm=$(kb VmHWM)
sig1=$(metric meridian_dnssec_signatures_total) ref1=$(metric meridian_dnssec_online_refused_total) why1=$(reasons)
read -r f50 f99 f999 fn < <(percentiles "$RESULTS_DIR/legit.flood.txt")
hz=$(getconf CLK_TCK)

fqps=$(awk -F: '/Queries per second:/ {gsub(/ /, "", $2); n += $2} END {printf "%.0f", n}' "$RESULTS_DIR"/flood.*.txt)
fcodes=$(sed -n 's/^ *Response codes: *//p' "$RESULTS_DIR"/flood.*.txt | paste -sd';')
flost=$(sed -n 's/^ *Queries lost: *//p' "$RESULTS_DIR"/flood.*.txt | paste -sd';')
llost=$(sed -n 's/^ *Queries lost: *//p' "$RESULTS_DIR/legit.flood.txt")
for f in legit.baseline legit.flood; do
	grep -v '^> ' "$RESULTS_DIR/$f.txt" >"$RESULTS_DIR/$f.tmp" && mv "$RESULTS_DIR/$f.tmp" "$RESULTS_DIR/$f.txt"
done

el=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')
echo
echo "Random-subdomain flood on Meridian's signed zone, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
echo "flood: $FLOOD_NETWORKS x dnsperf$([[ $FLOOD_DO == 0 ]] || echo " -D") -c $FLOOD_CLIENTS -T 1 -q $OUTSTANDING -l $FLOOD_DURATION${FLOOD_QPS:+ -Q $FLOOD_QPS}, $FLOOD_NAMES unique random names (14 characters) under $ZONE, A"
echo "legitimate: dnsperf (from 127.0.1.1) -D -E $ECS -Q $LEGIT_QPS, app.$ZONE A; ${BASELINE}s alone first, then alongside the flood"
echo
echo "flood sent            $fqps queries/s; lost $flost; codes $fcodes"
awk -v s="$((sig1 - sig0))" -v r="$((ref1 - ref0))" -v e="$el" 'BEGIN {
	printf "signatures made       %d in %.1f s = %.0f/s (meridian_dnssec_signatures_total)\n", s, e, s / e
	printf "online signing refused %d = %.0f/s (meridian_dnssec_online_refused_total: answered TC)\n", r, r / e
}'
echo "  by reason           before: $why0 after: $why1"
awk -v t="$((t1 - t0))" -v hz="$hz" -v e="$el" 'BEGIN {printf "server CPU            %.2f s in %.1f s = %.0f%% of one core (/proc/PID/stat utime+stime)\n", t / hz, e, 100 * t / hz / e}'
echo "server RSS            ${rss0} kB before, ${rss1} kB after, peak (VmHWM) ${hwm} kB"
printf 'legitimate latency    %-10s p50 %s ms  p99 %s ms  p99.9 %s ms  (%s answers)\n' baseline "$b50" "$b99" "$b999" "$bn"
printf 'legitimate latency    %-10s p50 %s ms  p99 %s ms  p99.9 %s ms  (%s answers; lost %s)\n' "in flood" "$f50" "$f99" "$f999" "$fn" "$llost"
echo
echo "Raw output: $RESULTS_DIR"

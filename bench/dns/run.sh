#!/usr/bin/env bash
# DNS benchmark: Meridian against CoreDNS and gdnsd, the same zone and the same
# query mix, one server at a time on this machine, with dnsperf over UDP on
# loopback. See bench/dns/README.md.
#
#   bench/dns/run.sh
#   SIGNED=1 bench/dns/run.sh     # DNSSEC: signed answers (DO bit), online signers
#   MATRIX=1 bench/dns/run.sh     # load shapes x servers, peak QPS only (~8 min)
#
# Environment (defaults in brackets):
#   DURATION [20]          seconds of each peak-throughput run (dnsperf -l)
#   HALF_DURATION [15]     seconds of each half-of-peak latency run (dnsperf -l)
#   WARMUP [3]             seconds of warm-up before each server's runs
#   CLIENTS [4]            dnsperf -c (UDP sockets)
#   THREADS [2]            dnsperf -T
#   OUTSTANDING [100]      dnsperf -q (queries in flight at once)
#   SERVERS [meridian coredns gdnsd]  which servers to run, in this order; known:
#                          meridian coredns gdnsd (unsigned zones, queries
#                          without DO) and meridian-signed knot pdns
#                          coredns-signed (signed zones, queries with DO)
#   SIGNED [0]             1: SERVERS defaults to meridian meridian-signed knot
#                          pdns coredns-signed, and the report compares
#                          Meridian signed with Meridian unsigned and with
#                          the best online signer
#   ROUNDS [1]             peak-throughput runs per server; rounds after the
#                          first rotate the servers' order, and the report
#                          gives each run, the median, and the median of the
#                          per-round ratios (the machine's noise shows)
#   PIN [0]                1: the server on CPU 0 and dnsperf on CPU 1
#                          (taskset), so that neither steals the other's core
#   MERIDIAN_BIN           a Meridian binary to run instead of building
#                          ./cmd/meridian from this work tree
#   MERIDIAN_BASE_BIN      another Meridian binary (say, the commit before a
#                          change), measured as server meridian-base on its
#                          own port, in the same run, with the same config
#   MERIDIAN_NO_RECORDS    1: drop the `record` lines from Meridian's config
#                          (for a Meridian that does not parse them yet)
#   RESULTS_DIR [bench/dns/.cache/results]  raw dnsperf output and server logs
#   MATRIX [0]             1: instead of the phases above, the peak QPS of
#                          each server in each load shape (SHAPES), and per
#                          shape Meridian / the best of the others; SERVERS
#                          defaults to meridian gdnsd nsd knot-unsigned,
#                          DURATION to 5, WARMUP to 1
#   SHAPES                 the load shapes of MATRIX=1, words of the form
#                          PROTO-tTHREADS-SUBNETSnet[-pin]: PROTO udp or tcp
#                          (pipelined: -q queries in flight over -c
#                          connections), THREADS dnsperf -T, SUBNETS the
#                          distinct ECS client subnets (bench/dns/ecsqueries),
#                          -pin the server on CPU 0 and dnsperf on CPU 1.
#                          Default: udp-t1-1net udp-t2-1net udp-t1-1000net
#                          udp-t2-1000net udp-t1-1net-pin udp-t2-1net-pin
#                          udp-t1-1000net-pin udp-t2-1000net-pin tcp-t1-1net
#                          tcp-t2-1net
#   RATE                   MATRIX=1: send RATE queries a second (dnsperf -Q)
#                          instead of as many as the server answers, so
#                          that the servers' CPU per query (reported for
#                          every MATRIX run) is compared at the same load
#   NICE                   MATRIX=1: run the servers and dnsperf under nice -n
#                          NICE (say -10, as root), so that other work on a
#                          shared machine takes less of their CPU
set -Eeuo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DIR/../.." && pwd)

MATRIX=${MATRIX:-0}
NICE=${NICE:-}
RATE=${RATE:-}
[[ -z $RATE || $RATE =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: RATE must be a positive integer, got '$RATE'" >&2; exit 1; }
if [[ $MATRIX == 1 ]]; then
	DURATION=${DURATION:-5}
	WARMUP=${WARMUP:-1}
	SERVERS=${SERVERS:-meridian gdnsd nsd knot-unsigned}
	SHAPES=${SHAPES:-udp-t1-1net udp-t2-1net udp-t1-1000net udp-t2-1000net udp-t1-1net-pin udp-t2-1net-pin udp-t1-1000net-pin udp-t2-1000net-pin tcp-t1-1net tcp-t2-1net}
fi
DURATION=${DURATION:-20}
HALF_DURATION=${HALF_DURATION:-15}
WARMUP=${WARMUP:-3}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
OUTSTANDING=${OUTSTANDING:-100}
SIGNED=${SIGNED:-0}
if [[ $SIGNED == 1 ]]; then
	SERVERS=${SERVERS:-meridian meridian-signed knot pdns coredns-signed}
else
	SERVERS=${SERVERS:-meridian coredns gdnsd}
fi
MERIDIAN_NO_RECORDS=${MERIDIAN_NO_RECORDS:-}
MERIDIAN_BIN=${MERIDIAN_BIN:-}
MERIDIAN_BASE_BIN=${MERIDIAN_BASE_BIN:-}
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

declare -A PORT=([meridian]=5301 [coredns]=5302 [gdnsd]=5303
	[meridian-signed]=5304 [knot]=5305 [pdns]=5306 [coredns-signed]=5307
	[nsd]=5309 [knot-unsigned]=5310 [meridian-base]=5311)
# The servers that sign: dnsperf sets the DO bit (-D) for them, and their
# answers are checked for RRSIGs first.
declare -A SIGNS=([meridian-signed]=1 [knot]=1 [pdns]=1 [coredns-signed]=1)
signs() { [[ -n ${SIGNS[$1]:-} ]]; }
has() { [[ " $SERVERS " == *" $1 "* ]]; }

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
	[[ -n ${PORT[$s]:-} ]] || die "unknown server '$s' in SERVERS (known: ${!PORT[*]})"
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
# Knot and PowerDNS (geoip backend, GeoIP.dat from geoip-database) only
# when they are measured.
debs=(dnsperf gdnsd bind9-dnsutils)
! has knot && ! has knot-unsigned || debs+=(knot)
! has nsd || debs+=(nsd)
! has pdns || debs+=(pdns-server pdns-backend-geoip geoip-database)
install_debs "${debs[@]}"
tools=(dnsperf gdnsd dig go ss)
! has knot && ! has knot-unsigned || tools+=(knotd knotc)
! has nsd || tools+=(nsd nsd-checkconf)
! has pdns || tools+=(pdns_server pdnsutil)
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null || die "$t not found in PATH"
done

# The Debian packages start gdnsd, knot, pdns and nsd on port 53 under
# systemd: stop them so that they neither answer for us nor take CPU during
# the runs.
for svc in gdnsd knot pdns nsd; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		log "stopping and disabling the Debian $svc service"
		systemctl stop "$svc" || die "cannot stop the $svc service"
		systemctl disable "$svc" >/dev/null 2>&1 || true
	fi
done
for p in gdnsd knotd pdns_server nsd; do
	if pgrep -x "$p" >/dev/null; then
		echo "run.sh: warning: other $p processes are running (not ours, left alone): $(pgrep -x "$p" | tr '\n' ' ')" >&2
	fi
done

COREDNS=$CACHE_BIN/coredns
if has coredns || has coredns-signed; then
	if [[ ! -x $COREDNS ]] || [[ $("$COREDNS" -version 2>/dev/null) != *"CoreDNS-${COREDNS_VERSION#v}"* ]]; then
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

if has meridian || has meridian-signed || has meridian-base; then
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
	# meridian-signed: the same config on its own port, the zone with a
	# dnssec block whose keys (one ECDSA P-256 signing key) Meridian
	# generates into an empty directory on first start.
	mkdir -p "$TMP/meridian-keys"
	sed -e "s/127\.0\.0\.1:${PORT[meridian]}/127.0.0.1:${PORT[meridian-signed]}/" \
		-e "/^zone $ZONE {/a\\    dnssec {\\n        keys $TMP/meridian-keys\\n    }" \
		"$TMP/meridian.conf" >"$TMP/meridian-signed.conf"
	grep -q "keys $TMP/meridian-keys" "$TMP/meridian-signed.conf" || die "could not add a dnssec block to Meridian's config"
	if has meridian-base; then
		[[ -x $MERIDIAN_BASE_BIN ]] || die "server meridian-base needs MERIDIAN_BASE_BIN, an executable Meridian"
		cp "$MERIDIAN_BASE_BIN" "$TMP/meridian-base"
		sed -e "s/127\.0\.0\.1:${PORT[meridian]}/127.0.0.1:${PORT[meridian-base]}/" "$TMP/meridian.conf" >"$TMP/meridian-base.conf"
	fi
fi

# Knot DNS: online signing by mod-onlinesign (Knot refuses the module
# together with dnssec-signing: on, "incompatible with automatic signing"),
# with an ECDSA P-256 single-type (CSK) policy; the key is generated into
# the KASP database on the first start.
if has knot; then
	mkdir -p "$TMP/knot/storage" "$TMP/knot/run"
	cp "$ZONEFILE" "$TMP/knot/storage/$ZONE.zone"
	cat >"$TMP/knot/knot.conf" <<EOF
server:
    listen: 127.0.0.1@${PORT[knot]}
    rundir: $TMP/knot/run
log:
  - target: stderr
    any: warning
database:
    storage: $TMP/knot/storage
    kasp-db: $TMP/knot/kasp
    journal-db: $TMP/knot/journal
    timer-db: $TMP/knot/timer
policy:
  - id: online
    algorithm: ecdsap256sha256
    single-type-signing: on
mod-onlinesign:
  - id: online
    policy: online
zone:
  - domain: $ZONE
    file: $TMP/knot/storage/$ZONE.zone
    module: mod-onlinesign/online
    zonefile-sync: -1
    journal-content: none
EOF
	knotc -c "$TMP/knot/knot.conf" conf-check >&2 || die "knotc conf-check failed"
fi

# Knot DNS unsigned: the static zone file, one UDP socket per worker (one
# worker per CPU, Knot's default, spread by the kernel's flow hash) and
# one TCP socket per worker too (tcp-reuseport), as NSD and Meridian have.
if has knot-unsigned; then
	mkdir -p "$TMP/knot-unsigned/storage" "$TMP/knot-unsigned/run"
	cp "$ZONEFILE" "$TMP/knot-unsigned/storage/$ZONE.zone"
	cat >"$TMP/knot-unsigned/knot.conf" <<EOF
server:
    listen: 127.0.0.1@${PORT[knot-unsigned]}
    rundir: $TMP/knot-unsigned/run
    tcp-reuseport: on
log:
  - target: stderr
    any: warning
database:
    storage: $TMP/knot-unsigned/storage
    kasp-db: $TMP/knot-unsigned/kasp
    journal-db: $TMP/knot-unsigned/journal
    timer-db: $TMP/knot-unsigned/timer
zone:
  - domain: $ZONE
    file: $TMP/knot-unsigned/storage/$ZONE.zone
    zonefile-sync: -1
    journal-content: none
EOF
	knotc -c "$TMP/knot-unsigned/knot.conf" conf-check >&2 || die "knotc conf-check failed (knot-unsigned)"
fi

# NSD: the static zone file (NSD has no GeoIP: it answers app with the
# eu-west addresses whatever the client subnet), response rate limiting off
# (rrl-ratelimit: 0; on by default, it would drop a benchmark's replies),
# one server process per CPU each with its own UDP and TCP sockets
# (reuseport), no database, everything under $TMP, in the foreground.
if has nsd; then
	mkdir -p "$TMP/nsd"
	cp "$ZONEFILE" "$TMP/nsd/$ZONE.zone"
	cat >"$TMP/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@${PORT[nsd]}
    server-count: $(nproc)
    reuseport: yes
    rrl-ratelimit: 0
    username: ""
    chroot: ""
    zonesdir: "$TMP/nsd"
    database: ""
    zonelistfile: "$TMP/nsd/zone.list"
    xfrdfile: "$TMP/nsd/xfrd.state"
    xfrdir: "$TMP/nsd"
    pidfile: "$TMP/nsd/nsd.pid"
    logfile: "$TMP/nsd/nsd.log"
    verbosity: 0
    tcp-count: 1000
remote-control:
    control-enable: no
zone:
    name: $ZONE
    zonefile: "$TMP/nsd/$ZONE.zone"
EOF
	nsd-checkconf "$TMP/nsd/nsd.conf" >&2 || die "nsd-checkconf failed"
fi

# PowerDNS Authoritative: the geoip backend (app is a geo service: the
# client's country from GeoIP.dat, GB for the benchmark's subnet, picks
# gb.app, which holds the two eu-west addresses), DNSSEC keys in the
# backend's key directory (pdnsutil secure-zone: one ECDSA P-256 CSK,
# NSEC3 narrow), signed online as PowerDNS always does, with its default
# packet and signature caches.
if has pdns; then
	mkdir -p "$TMP/pdns/keys" "$TMP/pdns/run"
	cat >"$TMP/pdns/zone.yaml" <<EOF
domains:
- domain: $ZONE
  ttl: 3600
  records:
    $ZONE:
      - soa: ns1.$ZONE hostmaster.example.com 1 3600 600 1209600 60
      - ns: ns1.$ZONE
      - mx: 10 mail.$ZONE
      - txt: '"v=spf1 -all"'
    ns1.$ZONE:
      - a: 127.0.0.1
    www.$ZONE:
      - a: 192.0.2.80
      - aaaa: 2001:db8::80
    mail.$ZONE:
      - a: 192.0.2.25
    gb.app.$ZONE:
      - a: {content: 192.0.2.10, ttl: 30}
      - a: {content: 192.0.2.11, ttl: 30}
    unknown.app.$ZONE:
      - a: {content: 198.51.100.10, ttl: 30}
  services:
    app.$ZONE: [ '%cc.app.$ZONE', 'unknown.app.$ZONE' ]
EOF
	cat >"$TMP/pdns/pdns.conf" <<EOF
launch=geoip
geoip-database-files=/usr/share/GeoIP/GeoIP.dat
geoip-zones-file=$TMP/pdns/zone.yaml
geoip-dnssec-keydir=$TMP/pdns/keys
edns-subnet-processing=yes
local-address=127.0.0.1
local-port=${PORT[pdns]}
socket-dir=$TMP/pdns/run
daemon=no
guardian=no
disable-syslog=yes
loglevel=4
security-poll-suffix=
EOF
	pdnsutil --config-dir="$TMP/pdns" secure-zone "$ZONE" >"$TMP/pdns/secure-zone.log" 2>&1 || {
		cat "$TMP/pdns/secure-zone.log" >&2
		die "pdnsutil secure-zone failed"
	}
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

# CoreDNS signed: the dnssec plugin (signs answers as they go out, with its
# default cache of 10,000 signatures) with one ECDSA P-256 key in BIND's
# format from `meridian ctl dnssec keygen`.
if has coredns-signed; then
	mkdir -p "$TMP/coredns-keys"
	cdkey=$(cd "$REPO" && go run ./cmd/meridian ctl dnssec keygen "$ZONE" "$TMP/coredns-keys") || die "meridian ctl dnssec keygen failed"
	cat >"$TMP/Corefile-signed" <<EOF
$ZONE:${PORT[coredns-signed]} {
    bind 127.0.0.1
    file $ZONEFILE
    dnssec {
        key file $cdkey
    }
    errors
}
EOF
fi

server_version() {
	case $1 in
	meridian-base) "$TMP/meridian-base" version 2>/dev/null | awk 'NR == 1 {print $2}' ;;
	meridian | meridian-signed)
		if [[ -z $MERIDIAN_BIN ]] && git -C "$REPO" rev-parse --short HEAD >/dev/null 2>&1; then
			# The work tree's commit, +dirty with uncommitted changes (bench/dns aside).
			echo "$(git -C "$REPO" rev-parse --short HEAD)$([[ -z $(git -C "$REPO" status --porcelain -- . ':!bench/dns') ]] || echo +dirty)"
		else
			"$TMP/meridian" version 2>/dev/null | awk 'NR == 1 {print $2}'
		fi
		;;
	coredns | coredns-signed) "$COREDNS" -version 2>/dev/null | sed -n 's/^CoreDNS-//p' | head -1 ;;
	gdnsd) dpkg-query -W -f='${Version}' gdnsd 2>/dev/null ;;
	knot | knot-unsigned) dpkg-query -W -f='${Version}' knot 2>/dev/null ;;
	nsd) dpkg-query -W -f='${Version}' nsd 2>/dev/null ;;
	pdns) dpkg-query -W -f='${Version}' pdns-server 2>/dev/null ;;
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
	meridian-signed)
		"${SERVER_CPU[@]}" "$TMP/meridian" serve -config "$TMP/meridian-signed.conf" -log-level warn >"$logf" 2>&1 &
		;;
	meridian-base)
		"${SERVER_CPU[@]}" "$TMP/meridian-base" serve -config "$TMP/meridian-base.conf" -log-level warn >"$logf" 2>&1 &
		;;
	coredns)
		"${SERVER_CPU[@]}" "$COREDNS" -conf "$TMP/Corefile" -quiet >"$logf" 2>&1 &
		;;
	coredns-signed)
		"${SERVER_CPU[@]}" "$COREDNS" -conf "$TMP/Corefile-signed" -quiet >"$logf" 2>&1 &
		;;
	knot)
		"${SERVER_CPU[@]}" knotd -c "$TMP/knot/knot.conf" >"$logf" 2>&1 &
		;;
	knot-unsigned)
		"${SERVER_CPU[@]}" knotd -c "$TMP/knot-unsigned/knot.conf" >"$logf" 2>&1 &
		;;
	nsd)
		"${SERVER_CPU[@]}" nsd -d -c "$TMP/nsd/nsd.conf" >"$logf" 2>&1 &
		;;
	pdns)
		"${SERVER_CPU[@]}" pdns_server --config-dir="$TMP/pdns" >"$logf" 2>&1 &
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
			if [[ $name == meridian* ]] && grep -q 'unknown directive "record"' "$logf"; then
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
	if [[ $name == meridian* && -n $MERIDIAN_NO_RECORDS && $MERIDIAN_NO_RECORDS != 0 ]]; then
		return 0
	fi
	got=$(q +short "www.$ZONE" A)
	[[ $got == 192.0.2.80 ]] || die "$name: www.$ZONE A is '$got', want 192.0.2.80"
	got=$(q +short "$ZONE" MX)
	[[ $got == "10 mail.$ZONE." ]] || die "$name: $ZONE MX is '$got', want '10 mail.$ZONE.'"
	got=$(q +short "$ZONE" TXT)
	[[ $got == '"v=spf1 -all"' ]] || die "$name: $ZONE TXT is '$got', want '\"v=spf1 -all\"'"
}

# check_signed NAME: a signing server's answers to DO queries carry RRSIGs:
# the geo answer's A RRset and the denial for a name that does not exist.
check_signed() {
	local name=$1 got
	qd() { dig +time=2 +tries=1 +norec +dnssec -p "${PORT[$name]}" @127.0.0.1 "$@" 2>&1 || true; }
	got=$(qd "app.$ZONE" A +subnet=$ECS_SUBNET)
	grep -qE "^app\.$ZONE\.[[:space:]].*RRSIG[[:space:]]+A " <<<"$got" ||
		die "$name: no RRSIG A in the answer to app.$ZONE A with DO: $got"
	got=$(qd "nope1.$ZONE" A)
	grep -qE 'RRSIG[[:space:]]+(NSEC|NSEC3|SOA) ' <<<"$got" ||
		die "$name: no signed denial for nope1.$ZONE A with DO: $got"
	log "$name: signed answers OK (RRSIG on app A and on nope1's denial)"
}

# --- measuring -------------------------------------------------------------

# dnsperf_run SERVER OUTFILE EXTRA-ARGS...: with the DO bit (-D) for a
# server that signs.
dnsperf_run() {
	local port=${PORT[$1]} out=$2 do=()
	! signs "$1" || do=(-D)
	shift 2
	# In the background and waited for, so that a signal stops the run at
	# once (bash runs traps only between foreground commands).
	"${DNSPERF_CPU[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$QUERIES" -E "$ECS" \
		-c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" -t 2 "${do[@]}" "$@" >"$out" 2>&1 &
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

# --- the load-shape matrix (MATRIX=1) ----------------------------------------

# server_cpu PID: the CPU time (user, system; USER_HZ ticks) and the context
# switches (voluntary, involuntary) of PID, its descendants (NSD's server
# processes) and all their threads, on one line.
server_cpu() {
	local pids=$1 all=$1 p next
	while [[ -n $pids ]]; do
		next=
		for p in $pids; do next+=" $(pgrep -P "$p" | tr '\n' ' ' || true)"; done
		pids=$(echo $next)
		all+=" $pids"
	done
	for p in $all; do
		# Fields after the command, which may hold spaces: utime is 14th.
		sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12, $13}' || true
		cat /proc/"$p"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {v += $2} /^nonvoluntary_ctxt_switches/ {n += $2} END {print "cs", v + 0, n + 0}' || true
	done | awk '$1 == "cs" {v += $2; n += $3; next} {u += $1; s += $2} END {print u + 0, s + 0, v + 0, n + 0}'
}

# per_query BEFORE AFTER QUERIES: server_cpu's difference per query: user
# and system µs, voluntary and involuntary switches.
per_query() {
	awk -v a="$1" -v b="$2" -v q="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		if (q <= 0) { print "- - - -"; exit }
		printf "%.2f %.2f %.3f %.3f\n", (y[1] - x[1]) * 1e6 / hz / q, (y[2] - x[2]) * 1e6 / hz / q, (y[3] - x[3]) / q, (y[4] - x[4]) / q
	}'
}

# shape_run SERVER SHAPE OUTFILE SECONDS: dnsperf in SHAPE against SERVER.
shape_run() {
	local port=${PORT[$1]} out=$3 secs=$4 proto threads nets
	IFS=- read -r proto threads nets _ <<<"$2"
	"${DNSPERF_CPU[@]}" dnsperf -s 127.0.0.1 -p "$port" -B -d "$TMP/q-${nets%net}.bin" -m "$proto" \
		-c "$CLIENTS" -T "${threads#t}" -q "$OUTSTANDING" -t 2 -l "$secs" ${RATE:+-Q "$RATE"} >"$out" 2>&1 &
	DNSPERF_PID=$!
	if ! wait "$DNSPERF_PID"; then
		DNSPERF_PID=
		tail -20 "$out" >&2
		die "dnsperf failed (output: $out)"
	fi
	DNSPERF_PID=
}

if [[ $MATRIX == 1 ]]; then
	for sh in $SHAPES; do
		[[ $sh =~ ^(udp|tcp)-t[1-9][0-9]*-[1-9][0-9]*net(-pin)?$ ]] ||
			die "bad shape '$sh' in SHAPES: want PROTO-tTHREADS-SUBNETSnet[-pin], e.g. udp-t1-1000net-pin"
	done
	(($(nproc) >= 2)) || [[ " $SHAPES " != *-pin* ]] || die "the -pin shapes need two CPUs"
	(cd "$REPO" && go build -o "$TMP/ecsqueries" ./bench/dns/ecsqueries) >&2 || die "go build ./bench/dns/ecsqueries failed"
	for n in $(tr ' ' '\n' <<<"$SHAPES" | sed -E 's/.*-([0-9]+)net.*/\1/' | sort -u); do
		"$TMP/ecsqueries" -subnets "$n" -o "$TMP/q-$n.bin" <"$QUERIES" || die "ecsqueries -subnets $n failed"
	done
	declare -A M C LOST CHECKED
	declare -a ORDER=($SERVERS)
	for ((r = 1; r <= ROUNDS; r++)); do
		((r == 1)) || ORDER=("${ORDER[@]:1}" "${ORDER[0]}")
		for pin in 0 1; do
			group=()
			for sh in $SHAPES; do
				if { [[ $sh == *-pin ]] && ((pin)); } || { [[ $sh != *-pin ]] && ((!pin)); }; then group+=("$sh"); fi
			done
			((${#group[@]})) || continue
			if ((pin)); then
				SERVER_CPU=(taskset -c 0) DNSPERF_CPU=(taskset -c 1)
			else
				SERVER_CPU=() DNSPERF_CPU=()
			fi
			if [[ -n $NICE ]]; then
				SERVER_CPU=(nice -n "$NICE" "${SERVER_CPU[@]}") DNSPERF_CPU=(nice -n "$NICE" "${DNSPERF_CPU[@]}")
			fi
			for s in "${ORDER[@]}"; do
				log "round $r/$ROUNDS: $s$( ((pin)) && echo ' (on CPU 0, dnsperf on CPU 1)')"
				start_server "$s"
				if [[ -z ${CHECKED[$s]:-} ]]; then
					check_answers "$s"
					CHECKED[$s]=1
					M[$s,version]=$(server_version "$s")
				fi
				for sh in "${group[@]}"; do
					f=$RESULTS_DIR/$s.$sh.$r.txt
					shape_run "$s" "$sh" "$f.warmup" "$WARMUP"
					cpu0=$(server_cpu "$SERVER_PID")
					shape_run "$s" "$sh" "$f" "$DURATION"
					C[$sh,$s,$r]=$(per_query "$cpu0" "$(server_cpu "$SERVER_PID")" "$(stat "$f" sent)")
					M[$sh,$s,$r]=$(stat "$f" qps)
					[[ -n ${M[$sh,$s,$r]} ]] || die "$s: no QPS in dnsperf output $f"
					LOST[$sh,$s,$r]=$(awk -v l="$(stat "$f" lost)" -v n="$(stat "$f" sent)" 'BEGIN {printf "%.2f", (n > 0) ? 100 * l / n : 0}')
					log "  $sh: ${M[$sh,$s,$r]} qps, lost ${LOST[$sh,$s,$r]}%"
				done
				stop_server
				sleep 0.5
			done
		done
	done
	median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
	echo
	echo "DNS load shapes, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r); QPS answered $([[ -n $RATE ]] && echo "at $RATE queries a second sent" || echo "at peak"), median of $ROUNDS round(s) of ${DURATION}s (after ${WARMUP}s warm-up)"
	echo "dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version //p') to 127.0.0.1, -B (bench/dns/ecsqueries: queries.txt's mix, ECS /24 per query), -c $CLIENTS -q $OUTSTANDING -t 2"
	echo "shapes: PROTO-tTHREADS (dnsperf -m PROTO -T THREADS; tcp pipelines -q queries over -c connections), SUBNETSnet distinct ECS /24s"
	echo "(1net: 81.2.69.0/24, UK; 1000net: spread over the IPv4 space), -pin: server on CPU 0, dnsperf on CPU 1"
	[[ -z $NICE ]] || echo "servers and dnsperf under nice -n $NICE"
	for s in $SERVERS; do echo "  $s ${M[$s,version]}"; done
	printf '%-20s' shape
	for s in $SERVERS; do printf ' %14s' "$s"; done
	printf '   %s\n' "Meridian/best other"
	for sh in $SHAPES; do
		printf '%-20s' "$sh"
		best=0 bestname= ratios=
		for s in $SERVERS; do
			all= lost=
			for ((r = 1; r <= ROUNDS; r++)); do
				all+=" ${M[$sh,$s,$r]}"
				awk -v l="${LOST[$sh,$s,$r]}" 'BEGIN {exit !(l > 1)}' && lost='*'
			done
			M[$sh,$s]=$(echo "$all" | median)
			printf ' %13.0f%1s' "${M[$sh,$s]}" "$lost"
			if [[ $s != meridian* ]] && awk -v a="${M[$sh,$s]}" -v b="$best" 'BEGIN {exit !(a > b)}'; then
				best=${M[$sh,$s]} bestname=$s
			fi
		done
		if has meridian && [[ -n $bestname ]]; then
			printf '   %.2f (%s)' "$(awk -v a="${M[$sh,meridian]}" -v b="$best" 'BEGIN {print a / b}')" "$bestname"
			if ((ROUNDS > 1)); then
				for ((r = 1; r <= ROUNDS; r++)); do
					b=0
					for s in $SERVERS; do
						[[ $s == meridian* ]] || b=$(awk -v a="${M[$sh,$s,$r]}" -v b="$b" 'BEGIN {print (a > b) ? a : b}')
					done
					ratios+=" $(awk -v a="${M[$sh,meridian,$r]}" -v b="$b" 'BEGIN {printf "%.2f", a / b}')"
				done
				printf ', per round:%s' "$ratios"
			fi
		fi
		if has meridian && has meridian-base; then
			printf '   new/base %.2f' "$(awk -v a="${M[$sh,meridian]}" -v b="${M[$sh,meridian-base]}" 'BEGIN {print a / b}')"
		fi
		echo
	done
	echo "(* more than 1% of the queries of a round lost: that QPS is not comparable)"
	echo
	echo "The servers' CPU time per query sent (user + system µs, all their processes and threads, from /proc),"
	echo "and their context switches per query (voluntary / involuntary), median of the rounds${RATE:+, at $RATE queries a second}:"
	printf '%-20s' shape
	for s in $SERVERS; do printf ' %20s' "$s"; done
	echo
	for sh in $SHAPES; do
		printf '%-20s' "$sh"
		for s in $SERVERS; do
			u= sy= v= n=
			for ((r = 1; r <= ROUNDS; r++)); do
				read -r a b c d <<<"${C[$sh,$s,$r]}"
				u+=" $a" sy+=" $b" v+=" $c" n+=" $d"
			done
			printf ' %7s %5s/%-5s' "$(awk -v u="$(echo "$u" | median)" -v s="$(echo "$sy" | median)" 'BEGIN {printf "%.1f", u + s}')" \
				"$(echo "$v" | median | xargs printf '%.2f')" "$(echo "$n" | median | xargs printf '%.2f')"
		done
		echo
	done
	echo
	echo "Raw dnsperf output and server logs: $RESULTS_DIR"
	exit 0
fi

declare -A R
for s in $SERVERS; do
	log "$s: starting on 127.0.0.1:${PORT[$s]}"
	start_server "$s"
	check_answers "$s"
	! signs "$s" || check_signed "$s"
	R[$s,version]=$(server_version "$s")
	log "$s: warm-up ${WARMUP}s"
	dnsperf_run "$s" "$RESULTS_DIR/$s.warmup.txt" -l "$WARMUP"
	log "$s: peak throughput ${DURATION}s"
	dnsperf_run "$s" "$RESULTS_DIR/$s.peak.txt" -l "$DURATION"
	f=$RESULTS_DIR/$s.peak.txt
	for k in qps sent lost avg sd max rcodes; do R[$s,$k]=$(stat "$f" "$k"); done
	[[ -n ${R[$s,qps]} ]] || die "$s: no QPS in dnsperf output $f"
	half=$(awk -v q="${R[$s,qps]}" 'BEGIN {printf "%d", q / 2}')
	((half > 0)) || die "$s: peak QPS ${R[$s,qps]} too low for a half-of-peak run"
	R[$s,half]=$half
	log "$s: latency at half of peak, -Q $half, ${HALF_DURATION}s"
	dnsperf_run "$s" "$RESULTS_DIR/$s.half.txt" -l "$HALF_DURATION" -Q "$half" -v -O suppress=timeouts
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
		dnsperf_run "$s" "$RESULTS_DIR/$s.warmup.$r.txt" -l "$WARMUP"
		dnsperf_run "$s" "$RESULTS_DIR/$s.peak.$r.txt" -l "$DURATION"
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
[[ $SIGNED != 1 ]] || echo "SIGNED=1: dnsperf -D (DO bit) for meridian-signed, knot, pdns and coredns-signed; meridian unsigned without DO"
echo "query mix $(basename "$QUERIES") (60% app A geo, 25% static, 15% NXDOMAIN); warm-up ${WARMUP}s, then peak ${DURATION}s, then half of peak ${HALF_DURATION}s"
if [[ " $SERVERS " == *" meridian "* && -n $MERIDIAN_NO_RECORDS && $MERIDIAN_NO_RECORDS != 0 ]]; then
	echo "MERIDIAN_NO_RECORDS=1: Meridian ran without its static records; its www/mail queries are NXDOMAIN and MX/TXT are NODATA"
fi
echo
echo "Phase 1: peak throughput (dnsperf -l $DURATION, no rate limit)"
printf '%-15s %-14s %10s %8s %8s %8s %7s  %s\n' server version QPS "avg ms" "sd ms" "max ms" lost "response codes"
for s in $SERVERS; do
	printf '%-15s %-14s %10.0f %8.3f %8.3f %8.3f %7s  %s\n' "$s" "${R[$s,version]:0:14}" "${R[$s,qps]}" \
		"${R[$s,avg]}" "${R[$s,sd]}" "${R[$s,max]}" "$(pct "${R[$s,lost]}" "${R[$s,sent]}")" "${R[$s,rcodes]}"
done
echo
if [[ -n ${R[meridian,qps]:-} ]] && { has coredns || has gdnsd; }; then
	echo "Meridian/CoreDNS QPS: $(ratio "${R[meridian,qps]}" "${R[coredns,qps]:-}")    Meridian/gdnsd QPS: $(ratio "${R[meridian,qps]}" "${R[gdnsd,qps]:-}")"
	echo
fi
# Signed: Meridian signed against Meridian unsigned and against the best
# online signer, on the median peak QPS over the rounds (round 1 alone
# with ROUNDS=1).
declare -A MED
for s in $SERVERS; do
	all=
	for ((r = 1; r <= ROUNDS; r++)); do all+=" ${R[$s,qps,$r]}"; done
	MED[$s]=$(echo "$all" | median)
done
if has meridian-signed; then
	best= bestq=0
	for s in knot pdns coredns-signed; do
		has "$s" || continue
		if awk -v a="${MED[$s]}" -v b="$bestq" 'BEGIN {exit !(a > b)}'; then best=$s bestq=${MED[$s]}; fi
	done
	echo "Signed answers (median peak QPS over $ROUNDS round(s); DO set for every signing server):"
	if has meridian; then
		echo "  Meridian signed / Meridian unsigned: $(ratio "${MED[meridian-signed]}" "${MED[meridian]}")  (goal >= 0.8)"
	fi
	if [[ -n $best ]]; then
		echo "  Meridian signed / best online signer ($best): $(ratio "${MED[meridian-signed]}" "$bestq")  (goal >= 2)"
	fi
	echo
fi
if ((ROUNDS > 1)); then
	echo "Peak QPS in each of $ROUNDS rounds (dnsperf -l $DURATION each; round 1 is phase 1)"
	printf '%-15s' server
	for ((r = 1; r <= ROUNDS; r++)); do printf ' %9s' "round $r"; done
	printf ' %9s\n' median
	for s in $SERVERS; do
		printf '%-15s' "$s"
		all=
		for ((r = 1; r <= ROUNDS; r++)); do printf ' %9.0f' "${R[$s,qps,$r]}"; all+=" ${R[$s,qps,$r]}"; done
		printf ' %9.0f\n' "$(echo "$all" | median)"
	done
	for pair in meridian/coredns meridian/gdnsd meridian-signed/meridian meridian-signed/knot meridian-signed/pdns meridian-signed/coredns-signed; do
		m=${pair%/*} other=${pair#*/}
		[[ -n ${R[$m,qps,1]:-} && -n ${R[$other,qps,1]:-} ]] || continue
		ratios=
		for ((r = 1; r <= ROUNDS; r++)); do ratios+=" $(ratio "${R[$m,qps,$r]}" "${R[$other,qps,$r]}")"; done
		echo "$m/$other per round:$ratios; median $(echo "$ratios" | median)"
	done
	echo
fi
echo "Phase 2: latency at half of each server's peak (dnsperf -Q peak/2 -l $HALF_DURATION -v; percentiles over every answered query)"
printf '%-15s %10s %10s %8s %8s %8s %8s %8s %7s  %s\n' server "-Q" "got QPS" "avg ms" "p50 ms" "p99 ms" "p99.9 ms" "max ms" lost "p99 < 1 ms"
for s in $SERVERS; do
	ok=$(awk -v p="${R[$s,p99]}" 'BEGIN {print (p != "-" && p + 0 < 1) ? "yes" : "NO"}')
	printf '%-15s %10s %10.0f %8.3f %8s %8s %8s %8.3f %7s  %s\n' "$s" "${R[$s,half]}" "${R[$s,hqps]}" "${R[$s,havg]}" \
		"${R[$s,p50]}" "${R[$s,p99]}" "${R[$s,p999]}" "${R[$s,hmax]}" "$(pct "${R[$s,hlost]}" "${R[$s,hsent]}")" "$ok"
done
if [[ -n ${R[meridian,p99]:-} ]]; then
	echo
	echo "Meridian target: p99 < 1 ms at half of peak: $(awk -v p="${R[meridian,p99]}" 'BEGIN {print (p != "-" && p + 0 < 1) ? "met" : "NOT met"}') (p99 ${R[meridian,p99]} ms)"
fi
echo
echo "Raw dnsperf output and server logs: $RESULTS_DIR"

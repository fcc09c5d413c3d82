#!/usr/bin/env bash
# Does a random-subdomain flood keep other networks out of online signing?
# Four flood networks (127.0.10.1-127.0.13.1, dnsperf with DO, names of
# their own) keep the signing workers busy; meanwhile a fifth network
# (127.0.9.1) asks 40 new names one at a time. Prints how many of them were
# signed and how many got TC, and the refusals by reason. Bounded: 8 s of
# flood. See bench/RESULTS.md.
#
#   bench/dns/others.sh [MERIDIAN_BINARY]
set -Eeuo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DIR/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/meridian-others.XXXXXX")
PID=
cleanup() {
	[[ -z $PID ]] || kill "$PID" 2>/dev/null || true
	jobs -p | xargs -r kill 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
BIN=${1:-}
if [[ -z $BIN ]]; then
	(cd "$REPO" && go build -o "$TMP/meridian" ./cmd/meridian)
	BIN=$TMP/meridian
fi
mkdir "$TMP/keys"
sed -e "s/dns   127\.0\.0\.1:5301/dns   127.0.0.1:5388/" -e "s/http  127\.0\.0\.1:0/http  127.0.0.1:9388/" \
	-e "/^zone gslb.example.com {/a\\    dnssec {\\n        keys $TMP/keys\\n    }" "$DIR/meridian.conf" >"$TMP/m.conf"
"$BIN" serve -config "$TMP/m.conf" -log-level warn >"$TMP/log" 2>&1 &
PID=$!
sleep 2
for n in 0 1 2 3; do
	awk -v seed=$((RANDOM * 64 + n)) 'BEGIN {
		srand(seed); c = "abcdefghijklmnopqrstuvwxyz0123456789"
		for (i = 0; i < 200000; i++) {
			s = ""; for (j = 0; j < 14; j++) s = s substr(c, int(rand() * 36) + 1, 1)
			print s ".gslb.example.com A"
		}
	}' >"$TMP/f$n.txt"
done
flood=()
for n in 0 1 2 3; do
	dnsperf -s 127.0.0.1 -a "127.0.$((10 + n)).1" -p 5388 -d "$TMP/f$n.txt" -D -c 2 -T 1 -q 50 -l 8 >"$TMP/p$n.txt" 2>&1 &
	flood+=($!)
done
sleep 3
signed=0 tc=0
for i in $(seq 40); do
	r=$(kdig @127.0.0.1 -p 5388 -b 127.0.9.1 +notcp +ignore +dnssec +time=2 +retry=0 "other$i-$RANDOM.gslb.example.com" A 2>&1)
	if grep -qiE '^;; flags:.* tc' <<<"$r"; then
		tc=$((tc + 1))
	elif grep -q 'NSEC' <<<"$r"; then
		signed=$((signed + 1))
	fi
done
wait "${flood[@]}"
echo "the other network's 40 new names: $signed signed, $tc TC"
curl -s 127.0.0.1:9388/metrics | grep '^meridian_dnssec_online_refused_total'

#!/bin/sh
# Installs the Debian tools the tests run for real (dig, kdig, ...) when they
# are missing. As root it uses apt-get; otherwise it names what to install.
set -eu

# command:package pairs.
tools="dig:bind9-dnsutils kdig:knot-dnsutils unbound:unbound knotd:knot nsd:nsd etcd:etcd-server chromium:chromium dnstap-ldns:dnstap-ldns"

missing=""
for pair in $tools; do
	# Daemons live in sbin, which a plain user's PATH may lack.
	cmd="${pair%%:*}"
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing test tools:$missing" >&2
	echo "run 'make test' as root, or: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing test tools:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing

#!/bin/sh
# update-data.sh refreshes the data built into package geo from the npm
# registry: the builtin database (builtin/geo-whois-asn-country.mmdb) and the
# country table (countries_gen.go), then prints what changed.
#
# Usage: geo/update-data.sh [IP_LOCATION_DB_VERSION [WORLD_COUNTRIES_VERSION]]
#
# The versions default to the ones in use, recorded in builtin/LICENSE.md and
# LICENSE-countries.md, which the script updates. Needs npm, tar and go.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ipdb_pkg=@ip-location-db/geo-whois-asn-country-mmdb
wc_pkg=world-countries

current_version() { sed -n 's/^- Version: //p' "$1"; }
ipdb_version=${1:-$(current_version "$here/builtin/LICENSE.md")}
wc_version=${2:-$(current_version "$here/LICENSE-countries.md")}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/old" "$tmp/ipdb" "$tmp/wc"
cp "$here/builtin/geo-whois-asn-country.mmdb" "$here/countries_gen.go" "$tmp/old/"

echo "fetching $ipdb_pkg@$ipdb_version and $wc_pkg@$wc_version"
(cd "$tmp" && npm pack --silent "$ipdb_pkg@$ipdb_version" "$wc_pkg@$wc_version" >/dev/null)
tar -xzf "$tmp"/ip-location-db-geo-whois-asn-country-mmdb-*.tgz -C "$tmp/ipdb"
tar -xzf "$tmp"/world-countries-*.tgz -C "$tmp/wc"
ipdb=$tmp/ipdb/package
wc=$tmp/wc/package

# The licence notes quote the package licences: check they still hold.
license=$(sed -n 's/^ *"license": *"\(.*\)".*/\1/p' "$ipdb/package.json")
if [ "$license" != "CC0-1.0" ]; then
	echo "WARNING: $ipdb_pkg@$ipdb_version is now licensed $license, not CC0-1.0: review builtin/LICENSE.md" >&2
fi
while IFS= read -r line || [ -n "$line" ]; do
	[ -z "$line" ] && continue
	if ! grep -qF -- "$line" "$here/builtin/LICENSE.md"; then
		echo "WARNING: NRO_LICENSE changed, update the quote in builtin/LICENSE.md: $line" >&2
	fi
done <"$ipdb/NRO_LICENSE"
if ! grep -q "ODbL-1.0" "$wc/package.json"; then
	echo "WARNING: $wc_pkg@$wc_version no longer says ODbL-1.0: review LICENSE-countries.md" >&2
fi
if grep -q "CAUTION" "$ipdb/README.md"; then
	echo "note: the upstream README still carries its caution about the npm data; see builtin/LICENSE.md"
fi

cp "$ipdb/geo-whois-asn-country.mmdb" "$here/builtin/geo-whois-asn-country.mmdb"
(cd "$here" && COUNTRIES_JSON="$wc/countries.json" go generate .)

for f in builtin/LICENSE.md LICENSE-countries.md; do
	case $f in
	builtin/*) v=$ipdb_version ;;
	*) v=$wc_version ;;
	esac
	sed "s/^- Version: .*/- Version: $v/" "$here/$f" >"$tmp/licence" && cat "$tmp/licence" >"$here/$f"
done

echo
echo "builtin/geo-whois-asn-country.mmdb ($ipdb_pkg@$ipdb_version):"
if cmp -s "$tmp/old/geo-whois-asn-country.mmdb" "$here/builtin/geo-whois-asn-country.mmdb"; then
	echo "  unchanged"
else
	echo "  $(wc -c <"$tmp/old/geo-whois-asn-country.mmdb") -> $(wc -c <"$here/builtin/geo-whois-asn-country.mmdb") bytes"
fi
echo "countries_gen.go ($wc_pkg@$wc_version):"
if cmp -s "$tmp/old/countries_gen.go" "$here/countries_gen.go"; then
	echo "  unchanged"
else
	diff -u "$tmp/old/countries_gen.go" "$here/countries_gen.go" | sed 's/^/  /' || true
fi
echo
echo "now run: go test ./geo/... (TestBuiltin checks a few well-known addresses)"

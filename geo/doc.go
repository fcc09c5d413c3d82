// Package geo locates clients by IP address for the DNS server and the routing
// engine: the DNS server needs the matched network, whose prefix length bounds
// the EDNS Client Subnet scope of an answer, and the engine needs coordinates
// to find the nearest cluster.
//
// A DB reads a MaxMind DB file of one of two schemas, told apart by the
// database type in its metadata:
//
//   - MaxMind GeoIP2 and GeoLite2 City and Country databases, and the DB-IP
//     databases compatible with them: country, continent, coordinates and,
//     in City databases, the largest subdivision (Location.Subdivision);
//   - the ip-location-db schema (https://github.com/sapics/ip-location-db),
//     whose records hold a country_code and, in the city databases, a
//     latitude and longitude.
//
// What a database lacks is filled in from a country table (continent and a
// centroid per country) generated from the world-countries data set, so a
// country-only database still yields coordinates. Builtin returns the
// database embedded in the binary, the CC0 geo-whois-asn-country database of
// ip-location-db; see README.md for the data and its licences.
package geo

// The country table is generated from world-countries' countries.json, which
// update-data.sh fetches from npm and passes in COUNTRIES_JSON.
//
//go:generate go run ./internal/gencountries -in=${COUNTRIES_JSON} -out=countries_gen.go

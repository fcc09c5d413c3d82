package geo

import _ "embed" // for the builtin database

// builtinMMDB is the geo-whois-asn-country database of ip-location-db
// (CC0-1.0, from RIR data © NRO, CC BY 4.0); see builtin/LICENSE.md.
//
//go:embed builtin/geo-whois-asn-country.mmdb
var builtinMMDB []byte

const builtinName = "builtin geo-whois-asn-country"

// Builtin opens the database embedded in the binary, so that Meridian
// locates clients by country out of the box, with no file to install; each
// call returns a new DB over the same embedded bytes.
func Builtin() (*DB, error) {
	return OpenBytes(builtinName, builtinMMDB)
}

package geo

import "github.com/meridian-gtm/meridian/model"

// Country is what the country table knows of one country.
type Country struct {
	// Code is the ISO 3166-1 alpha-2 code, upper case.
	Code string
	// Continent is the continent code as MaxMind uses it: AF AN AS EU NA OC SA.
	Continent string
	// Centroid is a point within the country, from world-countries' latlng;
	// good enough to rank data centres by distance.
	Centroid model.Point
}

// CountryInfo returns the table's entry for an ISO 3166-1 alpha-2 code in any
// case, so that callers holding only a country code can place it on a map and
// a continent.
func CountryInfo(code string) (Country, bool) {
	i, ok := countryIndex(code)
	if !ok {
		return Country{}, false
	}
	return countries[i], true
}

// countrySlots maps a code's two letters (AA..ZZ) to its index in countries
// plus one, 0 for none: Lookup finds a country without a map or a search.
var countrySlots = func() (slots [26 * 26]uint16) {
	for i, c := range countries {
		slot, ok := slotOf(c.Code)
		if !ok || slots[slot] != 0 {
			panic("geo: bad or duplicate country code in countries_gen.go: " + c.Code)
		}
		slots[slot] = uint16(i + 1)
	}
	return slots
}()

// countryIndex returns the index in countries of code, in any case.
func countryIndex(code string) (int, bool) {
	slot, ok := slotOf(code)
	if !ok || countrySlots[slot] == 0 {
		return 0, false
	}
	return int(countrySlots[slot]) - 1, true
}

// slotOf returns the slot of a two-letter code in any case.
func slotOf(code string) (int, bool) {
	if len(code) != 2 {
		return 0, false
	}
	a, b := upper(code[0]), upper(code[1])
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return 0, false
	}
	return int(a-'A')*26 + int(b-'A'), true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
)

// This file decodes the map block of a service or a zone.

// mapUsage is the syntax of a map entry, for errors.
const mapUsage = "[fence] subnet CIDR...|country CC...|subdivision CC-SUB...|continent CODE...|default -> CLUSTER..."

// codeMatches are the kinds of map entries whose values are codes.
var codeMatches = map[string]model.MapMatch{"country": model.MatchCountry, "continent": model.MatchContinent, "subdivision": model.MatchSubdivision}

// continents are the continent codes GeoIP databases use.
var continents = []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}

// decodeMap reads a map block, of a service or a zone, and where it and
// each entry stand; declared is where an earlier map block stood.
func decodeMap(d *node, declared Pos, errs *errorList) (entries []model.MapEntry, at Pos, entryPos []Pos) {
	if err := block(d, 0, ""); err != nil {
		errs.add(err)
		return nil, declared, nil
	}
	if declared.Line != 0 {
		errs.add(errorf(d.Pos, "map: already declared at %s", declared))
		return nil, declared, nil
	}
	for _, e := range d.Body {
		if m, ok := decodeMapEntry(e, errs); ok {
			entries = append(entries, m)
			entryPos = append(entryPos, e.Pos)
		}
	}
	return entries, d.Pos, entryPos
}

// decodeMapEntry reads one line of a map block: `[fence] subnet CIDR...
// -> CLUSTER...`, `country CC...`, `subdivision CC-SUB...`, `continent
// CODE...` or `default`.
// Whether its clusters exist is checked with the service.
func decodeMapEntry(n *node, errs *errorList) (model.MapEntry, bool) {
	words := append([]token{n.token}, n.Args...)
	var m model.MapEntry
	if words[0].Text == "fence" {
		m.Fence, words = true, words[1:]
	}
	arrow := slices.IndexFunc(words, func(t token) bool { return t.Text == "->" })
	if n.HasBody || len(words) == 0 || arrow < 1 || arrow == len(words)-1 {
		errs.add(errorf(n.Pos, "map: expected %s", mapUsage))
		return m, false
	}
	kind, values := strings.ToLower(words[0].Text), words[1:arrow]
	m.Source = fmt.Sprintf("%s:%d", filepath.Base(n.Pos.File), n.Pos.Line)
	for _, c := range words[arrow+1:] {
		m.Clusters = append(m.Clusters, strings.ToLower(c.Text))
	}
	ok := true
	bad := func(t token, format string, args ...any) {
		errs.add(errorf(t.Pos, "map: "+format, args...))
		ok = false
	}
	if !mapValues(&m, kind, values, bad) {
		bad(words[0], "unknown entry %q; expected %s", words[0].Text, mapUsage)
	}
	if ok && m.Match != model.MatchDefault && len(values) == 0 {
		bad(words[0], "%s needs at least one value before ->", kind)
	}
	return m, ok
}

// mapValues reads the values of a map entry of the given kind into m,
// reporting each bad one; false if the kind is unknown.
func mapValues(m *model.MapEntry, kind string, values []token, bad func(token, string, ...any)) bool {
	switch kind {
	case "subnet":
		m.Match = model.MatchSubnet
		for _, v := range values {
			p, err := netip.ParsePrefix(v.Text)
			switch {
			case err != nil:
				bad(v, "%q is not a CIDR such as 198.51.100.0/24 or 2001:db8::/32", v.Text)
			case p.Masked() != p:
				bad(v, "%s has host bits set; write %s", v.Text, p.Masked())
			default:
				m.Subnets = append(m.Subnets, p)
			}
		}
	case "country", "continent", "subdivision":
		m.Match = codeMatches[kind]
		for _, v := range values {
			code, err := mapCode(kind, v.Text)
			if err != nil {
				bad(v, "%v", err)
				continue
			}
			m.Codes = append(m.Codes, code)
		}
	case "default":
		m.Match = model.MatchDefault
		if len(values) > 0 {
			bad(values[0], "default takes no values: default -> CLUSTER...")
		}
	default:
		return false
	}
	return true
}

// mapCode checks the code of a country, continent or subdivision entry
// and returns it as GeoIP databases spell it.
func mapCode(kind, text string) (string, error) {
	switch kind {
	case "country":
		c, known := geo.CountryInfo(text)
		if !known {
			return "", fmt.Errorf("country %q is not an ISO 3166-1 alpha-2 code such as DE", text)
		}
		return c.Code, nil
	case "continent":
		c := strings.ToUpper(text)
		if !slices.Contains(continents, c) || !isASCII(text) { // ToUpper makes the long s an S
			return "", fmt.Errorf("continent %q is not one of %s", text, strings.Join(continents, " "))
		}
		return c, nil
	default:
		return subdivisionCode(text)
	}
}

// isASCII reports whether s is ASCII: strings.ToUpper turns some other
// letters into ASCII ones (the long s into S, the Kelvin sign into K),
// which would let a code match what it does not spell.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// subdivisionCode checks an ISO 3166-2 code such as US-CA or GB-ENG: a
// known country, a hyphen, and one to three letters or digits, as GeoIP
// City databases spell them. Whether the subdivision exists is the
// database's business: ISO adds and renames them every year.
func subdivisionCode(text string) (string, error) {
	cc, sub, ok := strings.Cut(strings.ToUpper(text), "-")
	country, known := geo.CountryInfo(cc)
	valid := ok && known && isASCII(text) && len(sub) >= 1 && len(sub) <= 3 && strings.Trim(sub, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
	if !valid {
		return "", fmt.Errorf("subdivision %q is not an ISO 3166-2 code such as US-CA or DE-BY", text)
	}
	return country.Code + "-" + sub, nil
}

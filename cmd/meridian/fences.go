package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
)

// geoWarnings are logged at every start and reload: the maps that the
// GeoIP database will not serve as written.
func geoWarnings(pol model.Policies, db *geo.DB) []string {
	return append(fenceWarnings(pol, db), subdivisionWarnings(pol, db)...)
}

// subdivisionWarnings names every subdivision entry when the database has
// no subdivisions (the builtin one, Country databases): such an entry
// never matches, and its clients fall to their country's entry or the
// distance, which the operator did not write.
func subdivisionWarnings(pol model.Policies, db *geo.DB) []string {
	if db.HasSubdivisions() {
		return nil
	}
	var out []string
	for _, sp := range pol.Services() {
		for _, e := range sp.Map {
			if e.Match == model.MatchSubdivision {
				out = append(out, fmt.Sprintf("%s: the %s of service %s never matches: the GeoIP database %s has no subdivisions; use a GeoIP2 or GeoLite2 City database",
					e.Source, e.Describe(), sp.Service, db.Description()))
			}
		}
	}
	return out
}

// fenceWarnings names every entry more specific than a service's fence
// that takes clients out of it: a subnet entry (of the subnets file, or of
// the service's own map) with a network GeoIP puts inside the fence, and
// a country or subdivision entry inside a continent or country fence.
// Such an entry either lists a cluster outside the fence, or is no fence
// itself and so sends its clients to every other cluster when its own
// fail. The more specific entry wins, which is what an operator listing a
// VPN or a misplaced office wants; but one line of a shared subnet list
// can undo the data residency of every fenced service, and that deserves
// a word at every start and reload.
func fenceWarnings(pol model.Policies, db *geo.DB) []string {
	var out []string
	for _, sp := range pol.Services() {
		var fences, codes []model.MapEntry
		var own []model.Net // the service's own subnet entries, not fences
		for _, e := range sp.Map {
			switch {
			case e.Fence && (e.Match == model.MatchCountry || e.Match == model.MatchContinent || e.Match == model.MatchSubdivision):
				fences = append(fences, e)
			case !e.Fence && e.Match == model.MatchSubnet:
				for _, p := range e.Subnets {
					own = append(own, model.Net{Prefix: p, Clusters: e.Clusters, Source: e.Source})
				}
			}
			if e.Match == model.MatchCountry || e.Match == model.MatchSubdivision {
				codes = append(codes, e)
			}
		}
		for _, n := range append(slices.Clone(pol.Nets), own...) {
			for _, f := range fences {
				loc, inside := fencedWithin(db, n.Prefix, f)
				if !inside {
					continue
				}
				geoip := loc.Country
				if !loc.Network.Contains(n.Prefix.Addr()) || loc.Network.Bits() > n.Prefix.Bits() {
					geoip += " for " + loc.Network.String() + " inside it"
				}
				out = append(out, leaves(fmt.Sprintf("%s: %s (GeoIP: %s)", n.Source, n.Prefix, geoip), n.Clusters, sp.Service, f,
					"the subnet entry wins", fmt.Sprintf("write `fence subnet %s -> ...` in the service's map to keep them in", n.Prefix)))
			}
		}
		for _, e := range codes {
			for _, f := range fences {
				if code := codeInside(e, f); code != "" && (!e.Fence || slices.ContainsFunc(e.Clusters, func(c string) bool { return !slices.Contains(f.Clusters, c) })) {
					out = append(out, leaves(fmt.Sprintf("%s: the %s", e.Source, e.Describe()), e.Clusters, sp.Service, f,
						"the more specific entry wins", "write it as a fence, with clusters of the fence, to keep them in"))
				}
			}
		}
	}
	return out
}

// leaves words a warning about an entry (what) whose clients, inside
// fence f of service, leave it: to a cluster of clusters outside f, or
// when none is, when they all fail, as the entry is no fence.
func leaves(what string, clusters []string, service string, f model.MapEntry, wins, fix string) string {
	if i := slices.IndexFunc(clusters, func(c string) bool { return !slices.Contains(f.Clusters, c) }); i >= 0 {
		return fmt.Sprintf("%s sends clients of service %s to %s, outside its %s at %s: %s", what, service, clusters[i], f.Describe(), f.Source, wins)
	}
	return fmt.Sprintf("%s is inside the %s of service %s at %s, but is no fence: when its clusters fail, its clients go to clusters outside; %s",
		what, f.Describe(), service, f.Source, fix)
}

// fencedWithin returns the location of a network GeoIP puts both inside p
// and inside fence f, if any.
func fencedWithin(db *geo.DB, p netip.Prefix, f model.MapEntry) (geo.Location, bool) {
	for loc := range db.Within(p) {
		var code string
		switch f.Match {
		case model.MatchCountry:
			code = loc.Country
		case model.MatchContinent:
			code = loc.Continent
		case model.MatchSubdivision:
			code = loc.Subdivision
		}
		if code != "" && slices.Contains(f.Codes, code) {
			return loc, true
		}
	}
	return geo.Location{}, false
}

// codeInside returns a code of e, a country or subdivision entry, that
// lies inside fence f, a continent or country fence, by the country
// table; "" when none does.
func codeInside(e, f model.MapEntry) string {
	for _, code := range e.Codes {
		country, _, _ := strings.Cut(code, "-")
		switch {
		case f.Match == model.MatchCountry && e.Match == model.MatchSubdivision && slices.Contains(f.Codes, country):
			return code
		case f.Match == model.MatchContinent:
			if c, ok := geo.CountryInfo(country); ok && slices.Contains(f.Codes, c.Continent) {
				return code
			}
		}
	}
	return ""
}

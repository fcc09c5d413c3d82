package main

import (
	"fmt"
	"slices"

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

// fenceWarnings names every subnet entry (of the subnets file, or of a
// service's own map) whose network GeoIP puts inside a service's fence:
// the entry is no fence, so it sends its clients outside, to a cluster it
// lists or, when its clusters fail, to every other cluster. The more
// specific entry wins, which is what an operator listing a VPN or a
// misplaced office wants; but one line of a shared subnet list can undo
// the data residency of every fenced service, and that deserves a word at
// every start and reload.
func fenceWarnings(pol model.Policies, db *geo.DB) []string {
	var out []string
	for _, sp := range pol.Services() {
		var fences []model.MapEntry
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
		}
		if len(fences) == 0 {
			continue
		}
		for _, n := range append(slices.Clone(pol.Nets), own...) {
			loc := db.Lookup(n.Prefix.Addr())
			continent := ""
			if c, ok := geo.CountryInfo(loc.Country); ok {
				continent = c.Continent
			}
			for _, f := range fences {
				if !slices.Contains(f.Codes, loc.Country) && !slices.Contains(f.Codes, continent) &&
					(loc.Subdivision == "" || !slices.Contains(f.Codes, loc.Subdivision)) {
					continue
				}
				outside := slices.IndexFunc(n.Clusters, func(c string) bool { return !slices.Contains(f.Clusters, c) })
				if outside >= 0 {
					out = append(out, fmt.Sprintf("%s: %s (GeoIP: %s) sends clients of service %s to %s, outside its %s at %s: the subnet entry wins",
						n.Source, n.Prefix, loc.Country, sp.Service, n.Clusters[outside], f.Describe(), f.Source))
				} else {
					out = append(out, fmt.Sprintf("%s: %s (GeoIP: %s) is inside the %s of service %s at %s, but a subnet entry is no fence: "+
						"when its clusters fail, its clients go to clusters outside; write `fence subnet %s -> ...` in the service's map to keep them in",
						n.Source, n.Prefix, loc.Country, f.Describe(), sp.Service, f.Source, n.Prefix))
				}
			}
		}
	}
	return out
}

package model

import (
	"net/netip"
	"strings"
)

// MapMatch says what a map entry matches a client by.
type MapMatch uint8

const (
	// MatchSubnet matches the client's address (ECS subnet, else resolver).
	MatchSubnet MapMatch = iota
	// MatchCountry matches the country GeoIP gives the address.
	MatchCountry
	// MatchContinent matches the continent GeoIP gives the address.
	MatchContinent
	// MatchDefault matches every client no other entry matches.
	MatchDefault
	// MatchSubdivision matches the country subdivision (a US state, a
	// German Land) GeoIP gives the address, when the database has them.
	MatchSubdivision
)

var matchNames = [...]string{MatchSubnet: "subnet", MatchCountry: "country", MatchContinent: "continent", MatchDefault: "default",
	MatchSubdivision: "subdivision"}

func (m MapMatch) String() string { return matchNames[m] }

// MapEntry is one entry of a geo service's map (gdnsd maps, Route 53
// geolocation): the clients it matches are served by Clusters, in order,
// each a priority (the first cluster priority 0), with the service's spill
// arithmetic between them. After them every other cluster of the service
// stands in one last priority, so an entry's clients leave its clusters
// only as they fail; a Fence has no such priority and fails closed: its
// clients are served by its clusters alone, or get no answer.
type MapEntry struct {
	Match MapMatch
	// Subnets are the prefixes of a MatchSubnet entry, masked.
	Subnets []netip.Prefix
	// Codes are the ISO 3166-1 alpha-2 countries of a MatchCountry entry,
	// the continents (AF AN AS EU NA OC SA) of a MatchContinent one, or
	// the ISO 3166-2 subdivisions (US-CA) of a MatchSubdivision one, upper
	// case.
	Codes    []string
	Clusters []string
	Fence    bool
	// Source is where the entry was written, FILE:LINE, for explain.
	Source string
}

// Describe names the entry as explain shows it: "map entry continent EU
// (fence)".
func (e MapEntry) Describe() string {
	var b strings.Builder
	b.WriteString("map entry " + e.Match.String())
	for _, p := range e.Subnets {
		b.WriteString(" " + p.String())
	}
	for _, c := range e.Codes {
		b.WriteString(" " + c)
	}
	if e.Fence {
		b.WriteString(" (fence)")
	}
	return b.String()
}

// MapIndex is a service's map compiled against its Plan, so that finding
// the entry of a Placement costs a few lookups.
type MapIndex struct {
	// Nets holds, per Plan.MapNets, the service's entry with the longest
	// prefix that holds it, or -1.
	Nets []int32
	// Subdivisions, Countries and Continents map codes to entries.
	Subdivisions map[string]int32
	Countries    map[string]int32
	Continents   map[string]int32
	// Default is the default entry, or -1.
	Default int32
}

// Entry returns the index in Policy.Map of the entry that serves the
// clients placed at pl, or -1 when none does and the service places them
// as geo does. The most specific match wins: a subnet entry, then the
// subnet list (which says GeoIP misplaces the network, so its country
// does not count), then a subdivision, a country, a continent, the
// default. xDS nodes
// (Placement.Node) get none.
func (s *ServicePlan) Entry(pl Placement) int {
	if len(s.Policy.Map) == 0 || pl.Node {
		return -1
	}
	m := &s.Map
	if pl.MapNet >= 0 && pl.MapNet < len(m.Nets) && m.Nets[pl.MapNet] >= 0 {
		return int(m.Nets[pl.MapNet])
	}
	if pl.Net >= 0 {
		return -1
	}
	if e, ok := m.Subdivisions[pl.Subdivision]; ok && pl.Subdivision != "" {
		return int(e)
	}
	if e, ok := m.Countries[pl.Country]; ok && pl.Country != "" {
		return int(e)
	}
	if e, ok := m.Continents[pl.Continent]; ok && pl.Continent != "" {
		return int(e)
	}
	return int(m.Default)
}

// RouteIndex returns the index in Routes of the route for the clients
// placed at pl: its map entry's, else its bucket's.
func (s *ServicePlan) RouteIndex(pl Placement) int {
	if e := s.Entry(pl); e >= 0 {
		return s.EntryRoute(e)
	}
	return pl.Bucket
}

// EntryRoute is the index in Routes of map entry e's route: the map's
// routes come last.
func (s *ServicePlan) EntryRoute(e int) int { return len(s.Routes) - len(s.Policy.Map) + e }

// RouteFor returns the route of the clients placed at pl.
func (s *ServicePlan) RouteFor(pl Placement) *Route { return s.Route(s.RouteIndex(pl)) }

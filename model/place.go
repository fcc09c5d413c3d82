package model

import "math"

// Client is what Meridian knows of where a client is, whichever way it
// asks: a DNS client by the location GeoIP gives its subnet (EDNS Client
// Subnet) or its resolver's address, an xDS node by the locality it
// declares. Place turns it into the bucket whose route it gets, the same
// way for DNS, xDS and explain.
type Client struct {
	// Location is where the client is, when HasLocation.
	Location    Point
	HasLocation bool
	// Locality is the region and zone an xDS node declares; empty for DNS
	// clients.
	Locality Locality
}

// Place returns the bucket of c: the index in p.Sites of the site that
// serves it, or len(p.Sites), the bucket of clients of unknown location.
//
// A declared locality is the most specific input: a node goes to the site
// in its zone, else to the first site (by name) in its region. A client
// with a location goes to the nearest site, ties to the site that sorts
// first. Anything else, or a Plan without sites, is of unknown location.
func (p *Plan) Place(c Client) int {
	if c.Locality.Region != "" {
		region := -1
		for i, s := range p.Sites {
			if s.Locality.Region != c.Locality.Region {
				continue
			}
			if c.Locality.Zone != "" && s.Locality.Zone == c.Locality.Zone {
				return i
			}
			if region < 0 {
				region = i
			}
		}
		if region >= 0 {
			return region
		}
	}
	best := len(p.Sites)
	if !c.HasLocation {
		return best
	}
	bestKm := math.Inf(1)
	for i, s := range p.Sites {
		if d := c.Location.DistanceKm(s.Location); d < bestKm {
			best, bestKm = i, d
		}
	}
	return best
}

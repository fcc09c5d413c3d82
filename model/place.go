package model

import (
	"math"
	"net/netip"
)

// Client is what Meridian knows of where a client is, whichever way it
// asks: a DNS client by its address (EDNS Client Subnet, else its
// resolver's) and the location GeoIP gives that address, an xDS node by
// the locality it declares. Place turns it into the bucket whose route it
// gets, the same way for DNS, xDS and explain.
type Client struct {
	// Location is where the client is, when known.
	Location Location
	// Addr is the address that locates a DNS client: its ECS subnet's
	// address, else its resolver's. Zero for xDS nodes, which have none:
	// subnet lists do not apply to them, they keep locality placement.
	Addr netip.Addr
	// Country, Continent and Subdivision are what GeoIP says of Addr
	// (ISO 3166-1 alpha-2, AF AN AS EU NA OC SA, and ISO 3166-2 such as
	// US-CA), upper case; empty when unknown. Service maps match them.
	Country, Continent, Subdivision string
	// Locality is the region and zone an xDS node declares; empty for DNS
	// clients.
	Locality Locality
	// Node marks an xDS node, even one that declares no locality: nodes
	// have no address or country, so maps do not apply to them and they
	// keep locality placement.
	Node bool
}

// Placement is where Place puts a client.
type Placement struct {
	// Bucket is the index of the client's route in every ServicePlan.Routes:
	// a site's (0..len(Sites)-1), unknown location's (len(Sites)), or a
	// subnet list's (Plan.NetBucket).
	Bucket int
	// Net is the index in Plan.Nets of the subnet-list entry that placed
	// the client, or -1 when none did.
	Net int
	// NetBits is the shortest prefix length of Client.Addr over which the
	// subnet list places every address alike: no entry more specific than
	// that prefix overlaps it. With Net set it is at least the entry's
	// prefix length; 0 when the list has no entry of Addr's family. An ECS
	// answer's scope must not be wider (shorter) than it. It covers the
	// subnets of service maps too.
	NetBits int
	// MapNet is the index in Plan.MapNets of the longest prefix of a map's
	// subnet entry that holds Client.Addr, or -1; Country, Continent and
	// Subdivision are the client's. ServicePlan.Entry turns them into a
	// service's map entry.
	MapNet                          int
	Country, Continent, Subdivision string
	// Node is Client.Node: no map entry applies.
	Node bool
}

// Place returns the placement of c. It is a pure function of the Plan and
// c, so DNS, xDS and explain agree. It does not depend on the service: a
// service's map turns the placement into one of its routes
// (ServicePlan.RouteIndex), which is how DNS, xDS and explain all read it.
//
// A declared locality is the most specific input: a node goes to the site
// in its zone, else to the first site (by name) in its region. An address
// in a subnet-list entry goes to that entry's bucket, the longest prefix
// winning. A client with a location goes to the nearest site, its distance
// to each site scaled by (1 - Bias/100), ties to the site that sorts first.
// Anything else, or a Plan without sites, is of unknown location.
//
// The subnet list and the map subnets are searched in a trie
// (PrefixIndex), at most 32 or 128 steps however long they are.
func (p *Plan) Place(c Client) Placement {
	pl := Placement{Bucket: len(p.Sites), Net: -1, MapNet: -1, Node: c.Node}
	if c.Locality.Region != "" {
		region := -1
		for i, s := range p.Sites {
			if s.Locality.Region != c.Locality.Region {
				continue
			}
			if c.Locality.Zone != "" && s.Locality.Zone == c.Locality.Zone {
				pl.Bucket = i
				return pl
			}
			if region < 0 {
				region = i
			}
		}
		if region >= 0 {
			pl.Bucket = region
			return pl
		}
	}
	pl.Country, pl.Continent, pl.Subdivision = c.Country, c.Continent, c.Subdivision
	if c.Addr.IsValid() && (len(p.MapNets) > 0 || len(p.Nets) > 0) {
		x := p.netIndex()
		var bits int
		pl.MapNet, bits = x.mapNets.Match(c.Addr)
		pl.NetBits = max(pl.NetBits, bits)
		pl.Net, bits = x.nets.Match(c.Addr)
		pl.NetBits = max(pl.NetBits, bits)
		if pl.Net >= 0 {
			pl.Bucket = p.NetBucket(p.Nets[pl.Net].List)
			return pl
		}
	}
	at, ok := c.Location.Point()
	if !ok {
		return pl
	}
	bestKm := math.Inf(1)
	for i, s := range p.Sites {
		d := at.DistanceKm(s.Location)
		if s.Bias != 0 {
			d *= 1 - float64(s.Bias)/100
		}
		if d < bestKm {
			pl.Bucket, bestKm = i, d
		}
	}
	return pl
}

// NetBucket is the bucket of the clients of subnet-list cluster list i.
func (p *Plan) NetBucket(list int) int { return len(p.Sites) + 1 + list }

// Buckets is the number of buckets, the length of every ServicePlan.Routes:
// one per site, one for unknown locations, one per subnet-list cluster list.
func (p *Plan) Buckets() int { return len(p.Sites) + 1 + len(p.NetLists) }

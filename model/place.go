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
	// Location is where the client is, when HasLocation.
	Location    Point
	HasLocation bool
	// Addr is the address that locates a DNS client: its ECS subnet's
	// address, else its resolver's. Zero for xDS nodes, which have none:
	// subnet lists do not apply to them, they keep locality placement.
	Addr netip.Addr
	// Locality is the region and zone an xDS node declares; empty for DNS
	// clients.
	Locality Locality
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
	// answer's scope must not be wider (shorter) than it.
	NetBits int
}

// Place returns the placement of c. It is a pure function of the Plan and
// c, so DNS, xDS and explain agree.
//
// A declared locality is the most specific input: a node goes to the site
// in its zone, else to the first site (by name) in its region. An address
// in a subnet-list entry goes to that entry's bucket, the longest prefix
// winning. A client with a location goes to the nearest site, its distance
// to each site scaled by (1 - Bias/100), ties to the site that sorts first.
// Anything else, or a Plan without sites, is of unknown location.
//
// The subnet list is searched linearly: it is small, and DNS caches the
// placement of IPv4 addresses.
func (p *Plan) Place(c Client) Placement {
	pl := Placement{Bucket: len(p.Sites), Net: -1}
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
	if c.Addr.IsValid() && len(p.Nets) > 0 {
		pl.Net, pl.NetBits = p.matchNet(c.Addr)
		if pl.Net >= 0 {
			pl.Bucket = p.NetBucket(p.Nets[pl.Net].List)
			return pl
		}
	}
	if !c.HasLocation {
		return pl
	}
	bestKm := math.Inf(1)
	for i, s := range p.Sites {
		d := c.Location.DistanceKm(s.Location)
		if s.Bias != 0 {
			d *= 1 - float64(s.Bias)/100
		}
		if d < bestKm {
			pl.Bucket, bestKm = i, d
		}
	}
	return pl
}

// matchNet returns the index of the longest subnet-list entry that holds
// addr (-1: none) and the shortest prefix of addr over which that answer
// holds for every address: for each entry of addr's family, an address
// that shares its first min(common+1, bits) bits with addr is decided by
// the entry alike, so the widest uniform prefix is the largest of those.
func (p *Plan) matchNet(addr netip.Addr) (net, bits int) {
	addr = addr.Unmap()
	net = -1
	for i, n := range p.Nets {
		if n.Prefix.Addr().Is4() != addr.Is4() {
			continue
		}
		if n.Prefix.Contains(addr) {
			if net < 0 || n.Prefix.Bits() > p.Nets[net].Prefix.Bits() {
				net = i
			}
			bits = max(bits, n.Prefix.Bits())
			continue
		}
		bits = max(bits, min(commonBits(addr, n.Prefix.Addr())+1, n.Prefix.Bits()))
	}
	return net, bits
}

// commonBits is the length of the common prefix of two addresses of the
// same family.
func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			for d&0x80 == 0 {
				d <<= 1
				n++
			}
			break
		}
		n += 8
	}
	if a.Is4() {
		n -= 96 // As16 maps IPv4 into ::ffff:0:0/96
	}
	return n
}

// NetBucket is the bucket of the clients of subnet-list cluster list i.
func (p *Plan) NetBucket(list int) int { return len(p.Sites) + 1 + list }

// Buckets is the number of buckets, the length of every ServicePlan.Routes:
// one per site, one for unknown locations, one per subnet-list cluster list.
func (p *Plan) Buckets() int { return len(p.Sites) + 1 + len(p.NetLists) }

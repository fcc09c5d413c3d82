package geo

import (
	"net/netip"
	"strings"

	"github.com/meridian-gtm/meridian/model"
	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// Lookup locates ip. An IPv4-mapped IPv6 address is looked up as the IPv4
// address it maps, as the client it stands for is an IPv4 one. It never
// fails: an invalid address gives the zero Location; an address the
// database cannot read (a corrupt or closed database) gives a Location with
// only Network, the address itself, so that no answer is cached for others.
func (db *DB) Lookup(ip netip.Addr) Location {
	if db == nil || !ip.IsValid() {
		return Location{}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && db.ipv4Only {
		// An IPv4-only database knows nothing of any IPv6 address.
		return Location{Network: netip.PrefixFrom(netip.IPv6Unspecified(), 0)}
	}
	var (
		rec     record
		network netip.Prefix
		err     error
	)
	switch {
	case db.maxmind != nil:
		rec, network, err = lookupMaxMind(db.maxmind, ip)
	case db.ipLoc != nil:
		rec, network, err = lookupIPLocation(db.ipLoc, ip)
	default:
		return Location{}
	}
	if err != nil || !network.IsValid() {
		return Location{Network: netip.PrefixFrom(ip, ip.BitLen())}
	}
	if ip.Is4() && !network.Addr().Is4() {
		// The record is an IPv6 network holding all of ::/96, the IPv4 space.
		network = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return rec.location(network)
}

// record is what one database record says, whatever its schema.
type record struct {
	country, continent string
	lat, lon           float64
	hasCoords          bool
}

// location fills in from the country table what the record lacks: the
// continent, and the country's centroid when the record has no coordinates.
func (r record) location(network netip.Prefix) Location {
	loc := Location{Continent: r.continent, Network: network}
	if i, ok := countryIndex(r.country); ok {
		c := &countries[i]
		loc.Country = c.Code
		if loc.Continent == "" {
			loc.Continent = c.Continent
		}
		loc.Point, loc.HasPoint = c.Centroid, true
	} else {
		loc.Country = strings.ToUpper(r.country) // not in the table: as the database says
	}
	if p := (model.Point{Lat: r.lat, Lon: r.lon}); r.hasCoords && p.Valid() {
		loc.Point, loc.HasPoint = p, true
	}
	return loc
}

// lookupMaxMind reads a GeoIP2 City or Country record; City lookups work on
// both.
func lookupMaxMind(r *geoip2.Reader, ip netip.Addr) (record, netip.Prefix, error) {
	c, err := r.City(ip)
	if err != nil {
		return record{}, netip.Prefix{}, err
	}
	rec := record{country: c.Country.ISOCode, continent: c.Continent.Code}
	if lat, lon := c.Location.Latitude, c.Location.Longitude; lat != nil && lon != nil {
		rec.lat, rec.lon, rec.hasCoords = *lat, *lon, true
	}
	return rec, c.Traits.Network, nil
}

// lookupIPLocation reads an ip-location-db record.
func lookupIPLocation(r *maxminddb.Reader, ip netip.Addr) (record, netip.Prefix, error) {
	res := r.Lookup(ip)
	var v ipLocRecord
	if err := res.Decode(&v); err != nil {
		return record{}, netip.Prefix{}, err
	}
	rec := record{
		country:   v.CountryCode,
		lat:       v.Latitude.value,
		lon:       v.Longitude.value,
		hasCoords: v.Latitude.ok && v.Longitude.ok,
	}
	return rec, res.Prefix(), nil
}

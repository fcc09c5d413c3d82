package geo

import (
	"iter"
	"net/netip"
	"strings"

	"github.com/meridian-gtm/meridian/model"
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
	r := db.ipLoc
	if r == nil {
		r = db.mm
	}
	if r == nil {
		return Location{}
	}
	return db.location(r.Lookup(ip), ip)
}

// location is the Location of a database result for ip.
func (db *DB) location(res maxminddb.Result, ip netip.Addr) Location {
	network := res.Prefix()
	if res.Err() != nil || !network.IsValid() {
		return Location{Network: netip.PrefixFrom(ip, ip.BitLen())}
	}
	if ip.Is4() && !network.Addr().Is4() {
		// The record is an IPv6 network holding all of ::/96, the IPv4 space.
		network = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	if !res.Found() {
		return Location{Network: network}
	}
	// Records are shared by many networks and found by offset: decode each
	// once, so that a lookup allocates nothing.
	off := res.Offset()
	loc, ok := db.cache.get(off)
	if !ok {
		var rec record
		var err error
		if db.ipLoc != nil {
			rec, err = decodeIPLocation(res)
		} else {
			rec, err = decodeMaxMind(res)
		}
		if err != nil {
			return Location{Network: netip.PrefixFrom(ip, ip.BitLen())}
		}
		loc = rec.location(netip.Prefix{})
		db.cache.put(off, loc)
	}
	loc.Network = network
	return loc
}

// Within returns the locations of the database's networks inside p (or of
// the one network that holds p), one per network with data, for checks
// that must see every address of a prefix, not its first alone. An
// IPv4-mapped prefix is read as the IPv4 prefix it maps.
func (db *DB) Within(p netip.Prefix) iter.Seq[Location] {
	return func(yield func(Location) bool) {
		if db == nil || !p.IsValid() {
			return
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Addr().Is6() && db.ipv4Only {
			return
		}
		r := db.ipLoc
		if r == nil {
			r = db.mm
		}
		if r == nil {
			return
		}
		for res := range r.NetworksWithin(p.Masked()) {
			if !yield(db.location(res, res.Prefix().Addr())) {
				return
			}
		}
	}
}

// record is what one database record says, whatever its schema.
type record struct {
	country, continent string
	subdivision        string // the ISO 3166-2 code's part after the country's
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
		loc.At = model.LocationAt(c.Centroid)
	} else {
		loc.Country = strings.ToUpper(r.country) // not in the table: as the database says
	}
	if loc.Country != "" && r.subdivision != "" {
		loc.Subdivision = loc.Country + "-" + strings.ToUpper(r.subdivision)
	}
	if p := (model.Point{Lat: r.lat, Lon: r.lon}); r.hasCoords && p.Valid() {
		loc.At = model.LocationAt(p)
	}
	return loc
}

// cityRecord is what Lookup reads of a GeoIP2 City or Country record
// (Country records lack location and subdivisions). It is Meridian's own
// rather than geoip2's City, which refuses a whole record whose codes are
// longer than it expects (16 bytes), country and all, and decodes the
// names in every language that Meridian never reads.
type cityRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
}

// decodeMaxMind reads a GeoIP2 City or Country record.
func decodeMaxMind(res maxminddb.Result) (record, error) {
	var c cityRecord
	if err := res.Decode(&c); err != nil {
		return record{}, err
	}
	rec := record{country: c.Country.ISOCode, continent: c.Continent.Code}
	if len(c.Subdivisions) > 0 && subdivisionPart(c.Subdivisions[0].ISOCode) {
		rec.subdivision = c.Subdivisions[0].ISOCode // MaxMind lists the largest first
	}
	if lat, lon := c.Location.Latitude, c.Location.Longitude; lat != nil && lon != nil {
		rec.lat, rec.lon, rec.hasCoords = *lat, *lon, true
	}
	return rec, nil
}

// subdivisionPart reports whether s can be the part of an ISO 3166-2
// code after the country's: one to three ASCII letters or digits. Anything
// else in a database is ignored rather than matched.
func subdivisionPart(s string) bool {
	if len(s) < 1 || len(s) > 3 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// decodeIPLocation reads an ip-location-db record.
func decodeIPLocation(res maxminddb.Result) (record, error) {
	var v ipLocRecord
	if err := res.Decode(&v); err != nil {
		return record{}, err
	}
	return record{
		country:   v.CountryCode,
		lat:       v.Latitude.value,
		lon:       v.Longitude.value,
		hasCoords: v.Latitude.ok && v.Longitude.ok,
	}, nil
}

package geo

import (
	"net/netip"

	"github.com/meridian-gtm/meridian/model"
)

// Location is where a client is, as far as the database knows.
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code, upper case; "" when unknown.
	Country string
	// Continent is one of AF AN AS EU NA OC SA; "" when unknown.
	Continent string
	// Subdivision is the ISO 3166-2 code of the country's largest
	// subdivision that holds the network (US-CA, DE-BY, GB-ENG), upper
	// case; "" when unknown or when the database has none (Country
	// databases, ip-location-db).
	Subdivision string
	// At is where the network is, when known: the record's own
	// coordinates, or the centroid of its country when the record has none.
	At model.Location
	// Network is the database network that matched, also for networks
	// without data (e.g. 10.0.0.0/8): its Bits() bound the ECS scope, since
	// the answer holds for every address in it. For IPv4 lookups it is an
	// IPv4 prefix.
	Network netip.Prefix
}

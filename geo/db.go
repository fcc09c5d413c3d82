package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an open geolocation database. Lookup may be called from many
// goroutines at once; Close must not overlap a Lookup.
type DB struct {
	name     string
	metadata maxminddb.Metadata
	ipv4Only bool
	// Exactly one reader is set, by schema.
	maxmind *geoip2.Reader    // GeoIP2/GeoLite2 City or Country
	ipLoc   *maxminddb.Reader // ip-location-db country or city
	// mm reads the MaxMind database's tree, so that records are decoded
	// (into geoip2's City) only when the cache lacks them.
	mm    *maxminddb.Reader
	cache recordCache
}

// Open reads the database file at path whole into memory, rather than
// mapping it, so that the file can be replaced while the DB is in use.
func Open(path string) (*DB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	return OpenBytes(path, b)
}

// OpenBytes opens a database held in b, which must not change while the DB
// is in use. It accepts the two schemas Lookup understands and refuses any
// other database (an ASN database, say) at once, so that a wrong file fails
// at start-up rather than locating nobody; name is used in errors and
// Description.
func OpenBytes(name string, b []byte) (*DB, error) {
	r, err := geoip2.OpenBytes(b)
	var unknown geoip2.UnknownDatabaseTypeError
	switch {
	case err == nil:
		return openMaxMind(name, b, r)
	case errors.As(err, &unknown):
		return openIPLocation(name, b, unknown.DatabaseType, err)
	default:
		return nil, fmt.Errorf("geo: %s is not a readable MaxMind DB file: %w", name, err)
	}
}

// openMaxMind accepts the GeoIP2 databases that answer City lookups.
func openMaxMind(name string, b []byte, r *geoip2.Reader) (*DB, error) {
	var invalid geoip2.InvalidMethodError
	if _, err := r.City(netip.IPv4Unspecified()); errors.As(err, &invalid) {
		_ = r.Close()
		return nil, unsupported(name, r.Metadata().DatabaseType, err)
	}
	mm, err := maxminddb.OpenBytes(b)
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("geo: %s is not a readable MaxMind DB file: %w", name, err)
	}
	md := r.Metadata()
	return &DB{name: name, metadata: md, ipv4Only: md.IPVersion == 4, maxmind: r, mm: mm}, nil
}

// openIPLocation accepts an ip-location-db database, whose database type is
// "country" or "city" followed by the IP version ("country ipvAll").
func openIPLocation(name string, b []byte, dbType string, cause error) (*DB, error) {
	kind, _, _ := strings.Cut(dbType, " ")
	if !strings.EqualFold(kind, "country") && !strings.EqualFold(kind, "city") {
		return nil, unsupported(name, dbType, cause)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geo: %s is not a readable MaxMind DB file: %w", name, err)
	}
	if err := checkIPLocation(r); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("geo: %s: database type %q: records do not follow the ip-location-db schema: %w", name, dbType, err)
	}
	return &DB{name: name, metadata: r.Metadata, ipv4Only: r.Metadata.IPVersion == 4, ipLoc: r}, nil
}

// checkIPLocation decodes the first few records, so that a database whose
// type merely looks right fails now and not on every lookup.
func checkIPLocation(r *maxminddb.Reader) error {
	const sample = 16
	n := 0
	for res := range r.Networks() {
		var rec ipLocRecord
		if err := res.Decode(&rec); err != nil {
			return fmt.Errorf("record for %v: %w", res.Prefix(), err)
		}
		if n++; n == sample {
			break
		}
	}
	return nil
}

func unsupported(name, dbType string, cause error) error {
	return fmt.Errorf("geo: %s: database type %q is not supported, want a GeoIP2/GeoLite2 City or Country "+
		"database or an ip-location-db country or city database: %w", name, dbType, cause)
}

// Description names the database, its type and build date, for logs and the
// status page: e.g. "builtin geo-whois-asn-country (country ipvAll, built 2026-06-17)".
func (db *DB) Description() string {
	if db.metadata.BuildEpoch == 0 {
		return fmt.Sprintf("%s (%s)", db.name, db.metadata.DatabaseType)
	}
	built := db.metadata.BuildTime().UTC().Format(time.DateOnly)
	return fmt.Sprintf("%s (%s, built %s)", db.name, db.metadata.DatabaseType, built)
}

// HasSubdivisions reports whether the database places addresses in
// country subdivisions (Location.Subdivision): GeoIP2 and GeoLite2 City
// databases, and those compatible with them, do; Country databases and
// ip-location-db ones do not.
func (db *DB) HasSubdivisions() bool {
	if db == nil || db.maxmind == nil {
		return false
	}
	t := db.metadata.DatabaseType
	return strings.Contains(t, "City") || strings.Contains(t, "Enterprise")
}

// Close releases the database; Lookup returns only the client's own
// address as Network afterwards.
func (db *DB) Close() error {
	switch {
	case db.maxmind != nil:
		return errors.Join(db.maxmind.Close(), db.mm.Close())
	case db.ipLoc != nil:
		return db.ipLoc.Close()
	}
	return nil
}

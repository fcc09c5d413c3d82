package geo

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// testBuildTime is the build time of the test databases.
var testBuildTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// entry is one network of a test database and its record.
type entry struct {
	cidr string
	data mmdbtype.Map
}

// writeDB builds a MaxMind DB of the given type and IP version (4 or 6) in
// memory, as a database vendor would.
func writeDB(t testing.TB, dbType string, ipVersion int, entries ...entry) []byte {
	t.Helper()
	return writeDBWith(t, mmdbwriter.Options{DatabaseType: dbType, IPVersion: ipVersion}, entries...)
}

// writeDBWith is writeDB with more options.
func writeDBWith(t testing.TB, opts mmdbwriter.Options, entries ...entry) []byte {
	t.Helper()
	opts.RecordSize = 24
	opts.BuildEpoch = testBuildTime.Unix()
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		_, network, err := net.ParseCIDR(e.cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(network, e.data); err != nil {
			t.Fatalf("insert %s: %v", e.cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// openDB builds a test database and opens it.
func openDB(t testing.TB, name, dbType string, ipVersion int, entries ...entry) *DB {
	t.Helper()
	db, err := OpenBytes(name, writeDB(t, dbType, ipVersion, entries...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// maxmindRecord is a GeoIP2 record; lat and lon are left out when nil.
func maxmindRecord(country, continent string, latLon ...float64) mmdbtype.Map {
	m := mmdbtype.Map{}
	if country != "" {
		m["country"] = mmdbtype.Map{
			"iso_code": mmdbtype.String(country),
			"names":    mmdbtype.Map{"en": mmdbtype.String("name of " + country)},
		}
		m["registered_country"] = mmdbtype.Map{"iso_code": mmdbtype.String(country)}
	}
	if continent != "" {
		m["continent"] = mmdbtype.Map{"code": mmdbtype.String(continent), "geoname_id": mmdbtype.Uint32(6255148)}
	}
	if len(latLon) == 2 {
		m["location"] = mmdbtype.Map{
			"latitude":        mmdbtype.Float64(latLon[0]),
			"longitude":       mmdbtype.Float64(latLon[1]),
			"accuracy_radius": mmdbtype.Uint16(100),
			"time_zone":       mmdbtype.String("Europe/London"),
		}
	}
	return m
}

// withSubdivisions adds a GeoIP2 City record's subdivisions, largest
// first, as MaxMind writes them.
func withSubdivisions(m mmdbtype.Map, codes ...string) mmdbtype.Map {
	var subs mmdbtype.Slice
	for _, c := range codes {
		subs = append(subs, mmdbtype.Map{"iso_code": mmdbtype.String(c), "names": mmdbtype.Map{"en": mmdbtype.String("name of " + c)}})
	}
	m["subdivisions"] = subs
	return m
}

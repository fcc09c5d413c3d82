package geo

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

func TestOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	if err := os.WriteFile(path, writeDB(t, "GeoLite2-City", 6, cityEntries...), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The file is read whole: replacing it does not disturb the open DB.
	if err := os.WriteFile(path, []byte("replaced"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkLookup(t, db, "81.2.69.1", want{"GB", "EU", pt(51.5142, -0.0931), "81.2.69.0/24"})
	if got, want := db.Description(), path+" (GeoLite2-City, built 2026-01-02)"; got != want {
		t.Errorf("Description() = %q, want %q", got, want)
	}
}

func TestDescription(t *testing.T) {
	db := openDB(t, "test-country.mmdb", "country ipv4", 4, entry{"81.2.69.0/24", ipLocCountry("GB")})
	if got, want := db.Description(), "test-country.mmdb (country ipv4, built 2026-01-02)"; got != want {
		t.Errorf("Description() = %q, want %q", got, want)
	}
}

func TestOpenMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.mmdb")
	_, err := Open(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing) error = %v, want one wrapping fs.ErrNotExist", err)
	}
	checkError(t, err, path)
}

// checkError checks that err is a geo error that names what it is about.
func checkError(t *testing.T, err error, names ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", names)
	}
	if !strings.HasPrefix(err.Error(), "geo: ") {
		t.Errorf("error %q does not start with \"geo: \"", err)
	}
	for _, name := range names {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %q", err, name)
		}
	}
}

func TestOpenRefusesASNDatabase(t *testing.T) {
	asn := mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(15169),
		"autonomous_system_organization": mmdbtype.String("GOOGLE"),
	}
	t.Run("GeoLite2-ASN", func(t *testing.T) {
		b := writeDB(t, "GeoLite2-ASN", 6, entry{"8.8.8.0/24", asn})
		db, err := OpenBytes("GeoLite2-ASN.mmdb", b)
		if db != nil {
			t.Error("OpenBytes returned a DB for an ASN database")
		}
		checkError(t, err, "GeoLite2-ASN.mmdb", `"GeoLite2-ASN"`)
		var cause geoip2.InvalidMethodError
		if !errors.As(err, &cause) {
			t.Errorf("error %q does not wrap geoip2.InvalidMethodError", err)
		}
	})
	t.Run("ip-location-db asn", func(t *testing.T) {
		b := writeDB(t, "asn ipv4", 4, entry{"8.8.8.0/24", asn})
		path := filepath.Join(t.TempDir(), "asn-ipv4.mmdb")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		checkError(t, err, path, `"asn ipv4"`)
		var cause geoip2.UnknownDatabaseTypeError
		if !errors.As(err, &cause) || cause.DatabaseType != "asn ipv4" {
			t.Errorf("error %q does not wrap geoip2.UnknownDatabaseTypeError for \"asn ipv4\"", err)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		_, err := OpenBytes("mine.mmdb", writeDB(t, "My-Own-Type", 6, entry{"8.8.8.0/24", ipLocCountry("US")}))
		checkError(t, err, "mine.mmdb", `"My-Own-Type"`)
	})
}

func TestOpenRefusesGarbage(t *testing.T) {
	for name, b := range map[string][]byte{
		"garbage.mmdb": []byte("this is not a MaxMind DB file, just some bytes\x00\x01\x02"),
		"empty.mmdb":   nil,
		// The metadata marker with nothing valid after it.
		"truncated.mmdb": []byte("\x00\x00\x00\xab\xcd\xefMaxMind.com\xff"),
	} {
		db, err := OpenBytes(name, b)
		if db != nil {
			t.Errorf("%s: OpenBytes returned a DB", name)
		}
		checkError(t, err, name)
		var invalid maxminddb.InvalidDatabaseError
		if !errors.As(err, &invalid) {
			t.Errorf("%s: error %q does not wrap maxminddb.InvalidDatabaseError", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "garbage.mmdb")
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	checkError(t, err, path)
}

// A database whose type says ip-location-db but whose records do not follow
// the schema is refused, not read as empty.
func TestOpenRefusesWrongIPLocationSchema(t *testing.T) {
	b := writeDB(t, "country ipv4", 4, entry{"81.2.69.0/24", mmdbtype.Map{"country_code": mmdbtype.Uint32(826)}})
	db, err := OpenBytes("numeric.mmdb", b)
	if db != nil {
		t.Error("OpenBytes returned a DB")
	}
	checkError(t, err, "numeric.mmdb", `"country ipv4"`)
	var typeErr maxminddb.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		t.Errorf("error %q does not wrap maxminddb.UnmarshalTypeError", err)
	}

	b = writeDB(t, "city ipv4", 4, entry{"81.2.69.0/24", mmdbtype.Map{
		"country_code": mmdbtype.String("GB"), "latitude": mmdbtype.String("51.5"), "longitude": mmdbtype.String("0"),
	}})
	_, err = OpenBytes("string-coords.mmdb", b)
	checkError(t, err, "string-coords.mmdb")
}

// An empty database of a known type is fine: it locates nobody.
func TestOpenEmptyDatabase(t *testing.T) {
	db := openDB(t, "empty.mmdb", "country ipvAll", 6)
	checkMiss(t, db, "81.2.69.1", nil)
	if got := db.Lookup(netip.MustParseAddr("81.2.69.1")); !got.Network.Addr().Is4() {
		t.Errorf("network %v is not IPv4", got.Network)
	}
}

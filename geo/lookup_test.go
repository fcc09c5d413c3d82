package geo

import (
	"math"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/meridian-gtm/meridian/model"
)

// want is the expected Location of one address; a nil point means an unknown location.
type want struct {
	country, continent string
	point              *model.Point
	network            string
}

func pt(lat, lon float64) *model.Point { return &model.Point{Lat: lat, Lon: lon} }

func checkLookup(t *testing.T, db *DB, addr string, w want) {
	t.Helper()
	ip := netip.MustParseAddr(addr)
	got := db.Lookup(ip)
	if got.Country != w.country || got.Continent != w.continent {
		t.Errorf("Lookup(%s) country, continent = %q, %q; want %q, %q", addr, got.Country, got.Continent, w.country, w.continent)
	}
	switch {
	case w.point == nil && got.At.Known():
		t.Errorf("Lookup(%s) has location %v, want none", addr, got.At)
	case w.point != nil && !got.At.Known():
		t.Errorf("Lookup(%s) has no point, want %v", addr, *w.point)
	case w.point != nil && !near(got.At, *w.point):
		t.Errorf("Lookup(%s) location = %v, want %v", addr, got.At, *w.point)
	}
	if got.Network != netip.MustParsePrefix(w.network) {
		t.Errorf("Lookup(%s) network = %v, want %s", addr, got.Network, w.network)
	}
	if ip.Unmap().Is4() && !got.Network.Addr().Is4() {
		t.Errorf("Lookup(%s) network %v is not an IPv4 prefix", addr, got.Network)
	}
}

// near allows for coordinates stored as 32-bit floats.
func near(l model.Location, q model.Point) bool {
	p, _ := l.Point()
	return math.Abs(p.Lat-q.Lat) < 1e-4 && math.Abs(p.Lon-q.Lon) < 1e-4
}

// checkMiss checks an address the database has no record for: no data, and
// a network of the same family that holds the address and none of the
// inserted networks.
func checkMiss(t *testing.T, db *DB, addr string, inserted []entry) {
	t.Helper()
	ip := netip.MustParseAddr(addr)
	got := db.Lookup(ip)
	if got.Country != "" || got.Continent != "" || got.At.Known() {
		t.Errorf("Lookup(%s) = %+v, want no data", addr, got)
	}
	n := got.Network
	if !n.IsValid() || n.Addr().Is4() != ip.Unmap().Is4() || !n.Contains(ip.Unmap()) {
		t.Fatalf("Lookup(%s) network = %v, want a prefix of the same family holding the address", addr, n)
	}
	for _, e := range inserted {
		if p := netip.MustParsePrefix(e.cidr); p.Overlaps(n) {
			t.Errorf("Lookup(%s) network %v overlaps the inserted %v", addr, n, p)
		}
	}
}

var cityEntries = []entry{
	{"81.2.69.0/24", maxmindRecord("GB", "EU", 51.5142, -0.0931)},
	{"2a02:ff00::/32", maxmindRecord("IT", "EU", 41.9, 12.5)},
	{"216.160.83.0/25", maxmindRecord("US", "NA")},
	{"89.160.20.112/28", maxmindRecord("", "EU")},
	{"2001:480:10::/48", maxmindRecord("", "", 47, 8)},
	{"67.43.156.0/24", maxmindRecord("AN", "NA")},
	{"175.16.199.0/24", maxmindRecord("CN", "AS", 95, 200)},
}

func TestLookupMaxMindCity(t *testing.T) {
	db := openDB(t, "city.mmdb", "GeoIP2-City", 6, cityEntries...)
	for addr, w := range map[string]want{
		"81.2.69.142":        {"GB", "EU", pt(51.5142, -0.0931), "81.2.69.0/24"},
		"81.2.69.0":          {"GB", "EU", pt(51.5142, -0.0931), "81.2.69.0/24"},
		"::ffff:81.2.69.255": {"GB", "EU", pt(51.5142, -0.0931), "81.2.69.0/24"},
		"2a02:ff00:1::5":     {"IT", "EU", pt(41.9, 12.5), "2a02:ff00::/32"},
		"2a02:ff00::%eth0":   {"IT", "EU", pt(41.9, 12.5), "2a02:ff00::/32"},
		// Country only: the centroid from the table.
		"216.160.83.56": {"US", "NA", pt(38, -97), "216.160.83.0/25"},
		// Continent only: no country, no point.
		"89.160.20.115": {"", "EU", nil, "89.160.20.112/28"},
		// Coordinates only: the record's own.
		"2001:480:10::1": {"", "", pt(47, 8), "2001:480:10::/48"},
		// A country the table lacks: as the database says, without a point.
		"67.43.156.1": {"AN", "NA", nil, "67.43.156.0/24"},
		// Coordinates out of range are ignored in favour of the centroid.
		"175.16.199.7": {"CN", "AS", pt(35, 105), "175.16.199.0/24"},
	} {
		checkLookup(t, db, addr, w)
	}
	for _, addr := range []string{"1.1.1.1", "81.2.70.1", "::ffff:8.8.8.8", "2001:db8::1", "2a03::1", "10.1.2.3", "127.0.0.1"} {
		checkMiss(t, db, addr, cityEntries)
	}
}

func TestLookupMaxMindCountry(t *testing.T) {
	entries := []entry{
		{"81.2.69.0/24", maxmindRecord("GB", "EU")},
		{"2a02:ff00::/32", maxmindRecord("BR", "SA")},
		{"13.250.0.0/15", maxmindRecord("SG", "AS")},
	}
	db := openDB(t, "country.mmdb", "GeoLite2-Country", 6, entries...)
	for addr, w := range map[string]want{
		"81.2.69.1":           {"GB", "EU", pt(54, -2), "81.2.69.0/24"},
		"::ffff:13.251.1.1":   {"SG", "AS", pt(1.36666666, 103.8), "13.250.0.0/15"},
		"2a02:ff00:ffff::abc": {"BR", "SA", pt(-10, -55), "2a02:ff00::/32"},
	} {
		checkLookup(t, db, addr, w)
	}
	checkMiss(t, db, "8.8.8.8", entries)
	checkMiss(t, db, "2001:4860::8888", entries)
}

func ipLocCountry(code string) mmdbtype.Map {
	return mmdbtype.Map{"country_code": mmdbtype.String(code)}
}

func TestLookupIPLocationCountry(t *testing.T) {
	entries := []entry{
		{"81.2.69.0/24", ipLocCountry("GB")},
		{"2a02:ff00::/32", ipLocCountry("BR")},
		{"13.250.0.0/15", ipLocCountry("sg")},
		{"67.43.156.0/24", ipLocCountry("AN")},
	}
	db := openDB(t, "country-ipvAll.mmdb", "country ipvAll", 6, entries...)
	for addr, w := range map[string]want{
		"81.2.69.1":          {"GB", "EU", pt(54, -2), "81.2.69.0/24"},
		"::ffff:81.2.69.200": {"GB", "EU", pt(54, -2), "81.2.69.0/24"},
		"2a02:ff00::1":       {"BR", "SA", pt(-10, -55), "2a02:ff00::/32"},
		"13.250.0.1":         {"SG", "AS", pt(1.36666666, 103.8), "13.250.0.0/15"},
		"67.43.156.1":        {"AN", "", nil, "67.43.156.0/24"},
	} {
		checkLookup(t, db, addr, w)
	}
	for _, addr := range []string{"8.8.8.8", "2001:4860::8888", "10.0.0.1"} {
		checkMiss(t, db, addr, entries)
	}
}

func TestLookupIPLocationCity(t *testing.T) {
	entries := []entry{
		{"81.2.69.0/24", mmdbtype.Map{
			"city":         mmdbtype.String("London"),
			"state1":       mmdbtype.String("England"),
			"state2":       mmdbtype.String(""),
			"postcode":     mmdbtype.String("EC2V"),
			"timezone":     mmdbtype.String("Europe/London"),
			"country_code": mmdbtype.String("GB"),
			"latitude":     mmdbtype.Float32(51.5142),
			"longitude":    mmdbtype.Float32(-0.0931),
		}},
		{"2a02:ff00::/32", mmdbtype.Map{
			"country_code": mmdbtype.String("IT"),
			"latitude":     mmdbtype.Float64(41.9),
			"longitude":    mmdbtype.Float64(12.5),
		}},
		{"216.160.83.0/25", ipLocCountry("US")},
		{"8.8.8.0/24", mmdbtype.Map{"country_code": mmdbtype.String("US"), "latitude": mmdbtype.Float32(37.4)}},
	}
	db := openDB(t, "city-ipvAll.mmdb", "city ipvAll", 6, entries...)
	for addr, w := range map[string]want{
		"81.2.69.1":       {"GB", "EU", pt(51.5142, -0.0931), "81.2.69.0/24"},
		"2a02:ff00::1":    {"IT", "EU", pt(41.9, 12.5), "2a02:ff00::/32"},
		"216.160.83.1":    {"US", "NA", pt(38, -97), "216.160.83.0/25"},
		"::ffff:8.8.8.8":  {"US", "NA", pt(38, -97), "8.8.8.0/24"},
		"216.160.83.127":  {"US", "NA", pt(38, -97), "216.160.83.0/25"},
		"216.160.83.128":  {"", "", nil, "216.160.83.128/25"},
		"2a02:feff::ffff": {"", "", nil, "2a02:fe00::/24"},
	} {
		checkLookup(t, db, addr, w)
	}
	if p := db.Lookup(netip.MustParseAddr("2a02:ff00::1")).At; p != model.LocationAt(model.Point{Lat: 41.9, Lon: 12.5}) {
		t.Errorf("double coordinates read as %v, want exactly {41.9 12.5}", p)
	}
}

// An IPv4-only database knows nothing of IPv6: the whole space is its network.
func TestLookupIPv4OnlyDatabase(t *testing.T) {
	for _, dbType := range []string{"country ipv4", "GeoLite2-Country"} {
		t.Run(dbType, func(t *testing.T) {
			var record mmdbtype.Map
			if dbType == "country ipv4" {
				record = ipLocCountry("GB")
			} else {
				record = maxmindRecord("GB", "EU")
			}
			db := openDB(t, "v4.mmdb", dbType, 4, entry{"81.2.69.0/24", record})
			checkLookup(t, db, "81.2.69.1", want{"GB", "EU", pt(54, -2), "81.2.69.0/24"})
			checkLookup(t, db, "::ffff:81.2.69.1", want{"GB", "EU", pt(54, -2), "81.2.69.0/24"})
			checkLookup(t, db, "2a02:ff00::1", want{"", "", nil, "::/0"})
		})
	}
}

func TestLookupInvalidAddress(t *testing.T) {
	db := openDB(t, "city.mmdb", "GeoIP2-City", 6, cityEntries...)
	if got := db.Lookup(netip.Addr{}); got != (Location{}) {
		t.Errorf("Lookup(invalid) = %+v, want the zero Location", got)
	}
	var nilDB *DB
	if got := nilDB.Lookup(netip.MustParseAddr("81.2.69.1")); got != (Location{}) {
		t.Errorf("nil DB Lookup = %+v, want the zero Location", got)
	}
}

func TestLookupAfterClose(t *testing.T) {
	for _, dbType := range []string{"GeoIP2-City", "country ipvAll"} {
		db, err := OpenBytes("closed.mmdb", writeDB(t, dbType, 6, entry{"81.2.69.0/24", ipLocCountry("GB")}))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		checkLookup(t, db, "81.2.69.1", want{"", "", nil, "81.2.69.1/32"})
		checkLookup(t, db, "2a02:ff00::1", want{"", "", nil, "2a02:ff00::1/128"})
	}
}

func TestLookupConcurrent(t *testing.T) {
	db := openDB(t, "city.mmdb", "GeoIP2-City", 6, cityEntries...)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := db.Lookup(netip.MustParseAddr("81.2.69.1")); got.Country != "GB" {
					t.Errorf("concurrent Lookup = %+v", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A record for an IPv6 network that holds all of ::/96, where IPv6 databases
// keep IPv4, matches every IPv4 address: its network is then 0.0.0.0/0.
func TestLookupIPv4UnderShortIPv6Network(t *testing.T) {
	b := writeDBWith(t, mmdbwriter.Options{
		DatabaseType:            "country ipv6",
		IPVersion:               6,
		IncludeReservedNetworks: true,
		DisableIPv4Aliasing:     true,
	}, entry{"::/64", ipLocCountry("GB")}, entry{"2a02:ff00::/32", ipLocCountry("BR")})
	db, err := OpenBytes("short.mmdb", b)
	if err != nil {
		t.Fatal(err)
	}
	checkLookup(t, db, "81.2.69.1", want{"GB", "EU", pt(54, -2), "0.0.0.0/0"})
	checkLookup(t, db, "::1:2:3:4", want{"GB", "EU", pt(54, -2), "::/64"})
	checkLookup(t, db, "2a02:ff00::1", want{"BR", "SA", pt(-10, -55), "2a02:ff00::/32"})
}

// TestLookupSubdivision: a City record's largest subdivision becomes an
// ISO 3166-2 code under its country; HasSubdivisions tells the databases
// that have them.
func TestLookupSubdivision(t *testing.T) {
	entries := []entry{
		{"81.2.69.0/24", withSubdivisions(maxmindRecord("GB", "EU", 51.5, -0.1), "ENG", "WSM")},
		{"216.160.83.0/25", withSubdivisions(maxmindRecord("US", "NA", 47.6, -122.3), "wa")},
		{"2a02:ff00::/32", maxmindRecord("IT", "EU", 41.9, 12.5)},
		{"89.160.20.112/28", withSubdivisions(maxmindRecord("", "EU"), "AB")}, // no country: no code
		// Codes no ISO 3166-2 code has are ignored, the rest of the record kept.
		{"31.9.0.0/16", withSubdivisions(maxmindRecord("DE", "EU", 50, 8), "BBBBBBBBBBBBBBBBB")},
		{"31.10.0.0/16", withSubdivisions(maxmindRecord("FR", "EU", 48, 2), "ÇA")},
	}
	city := openDB(t, "city.mmdb", "GeoLite2-City", 6, entries...)
	for addr, want := range map[string]string{
		"81.2.69.142": "GB-ENG", "::ffff:216.160.83.56": "US-WA", "2a02:ff00::1": "", "89.160.20.115": "", "8.8.8.8": "",
		"31.9.1.1": "", "31.10.1.1": "",
	} {
		if got := city.Lookup(netip.MustParseAddr(addr)).Subdivision; got != want {
			t.Errorf("Lookup(%s).Subdivision = %q, want %q", addr, got, want)
		}
	}
	if got := city.Lookup(netip.MustParseAddr("31.9.1.1")); got.Country != "DE" || got.Continent != "EU" || !got.At.Known() {
		t.Errorf("a record with a bad subdivision code lost its country: %+v", got)
	}
	country := openDB(t, "country.mmdb", "GeoLite2-Country", 6, entry{"81.2.69.0/24", maxmindRecord("GB", "EU")})
	ipLoc := openDB(t, "ip.mmdb", "country ipvAll", 6, entry{"81.2.69.0/24", ipLocCountry("GB")})
	for _, c := range []struct {
		db   *DB
		want bool
	}{{city, true}, {openDB(t, "e.mmdb", "GeoIP2-Enterprise", 6, entries...), true}, {country, false}, {ipLoc, false}, {nil, false}} {
		if got := c.db.HasSubdivisions(); got != c.want {
			t.Errorf("%v: HasSubdivisions() = %v, want %v", c.db, got, c.want)
		}
	}
}

// TestWithin: every network with data inside a prefix, or the one that
// holds it.
func TestWithin(t *testing.T) {
	db := openDB(t, "city.mmdb", "GeoIP2-City", 6, cityEntries...)
	countries := func(p string) []string {
		var out []string
		for loc := range db.Within(netip.MustParsePrefix(p)) {
			out = append(out, loc.Country+" "+loc.Network.String())
		}
		return out
	}
	for p, want := range map[string][]string{
		"81.0.0.0/8":          {"GB 81.2.69.0/24"},
		"81.2.69.128/25":      {"GB 81.2.69.0/24"}, // inside one network: that one
		"::ffff:81.0.0.0/104": {"GB 81.2.69.0/24"},
		"64.0.0.0/2":          {"AN 67.43.156.0/24", " 89.160.20.112/28", "GB 81.2.69.0/24"},
		"2a02::/16":           {"IT 2a02:ff00::/32"},
		"10.0.0.0/8":          nil,
	} {
		got := countries(p)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Within(%s) = %q, want %q", p, got, want)
		}
	}
	n := 0
	for range db.Within(netip.MustParsePrefix("0.0.0.0/0")) {
		if n++; n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("Within did not stop when asked: %d", n)
	}
}

package geo

import (
	"net/netip"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func BenchmarkLookup(b *testing.B) {
	builtin, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	defer builtin.Close()
	for _, bc := range []struct {
		name string
		db   *DB
		ip   string
	}{
		{"maxmind-city", openDB(b, "city.mmdb", "GeoIP2-City", 6, cityEntries...), "81.2.69.142"},
		{"maxmind-country", openDB(b, "country.mmdb", "GeoLite2-Country", 6,
			entry{"81.2.69.0/24", maxmindRecord("GB", "EU")}), "81.2.69.142"},
		{"iplocation-builtin", builtin, "81.2.69.142"},
		{"iplocation-builtin-ipv6", builtin, "2001:4860:4860::8888"},
		{"iplocation-city", openDB(b, "city-ipvAll.mmdb", "city ipvAll", 6, entry{"81.2.69.0/24", mmdbtype.Map{
			"city":         mmdbtype.String("London"),
			"country_code": mmdbtype.String("GB"),
			"latitude":     mmdbtype.Float32(51.5142),
			"longitude":    mmdbtype.Float32(-0.0931),
		}}), "81.2.69.142"},
	} {
		ip := netip.MustParseAddr(bc.ip)
		if loc := bc.db.Lookup(ip); !loc.At.Known() {
			b.Fatalf("%s: Lookup(%s) = %+v, want a point", bc.name, ip, loc)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.db.Lookup(ip)
			}
		})
	}
}

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// cityRecord is a GeoLite2-City record as MaxMind writes it: country,
// continent, coordinates and the subdivisions, largest first.
func cityRecord(country, continent string, lat, lon float64, subdivisions ...string) mmdbtype.Map {
	var subs mmdbtype.Slice
	for _, s := range subdivisions {
		subs = append(subs, mmdbtype.Map{"iso_code": mmdbtype.String(s)})
	}
	return mmdbtype.Map{
		"country":      mmdbtype.Map{"iso_code": mmdbtype.String(country)},
		"continent":    mmdbtype.Map{"code": mmdbtype.String(continent)},
		"location":     mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon)},
		"subdivisions": subs,
	}
}

// writeCityDB writes a GeoLite2-City database of the given networks.
func writeCityDB(t *testing.T, records map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", IPVersion: 6, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// subdivisionConf is the demo with geoip db and a map on app: California
// to ap-southeast, the rest of the US to us-east, Scotland to us-east.
func subdivisionConf(t *testing.T, db string) string {
	t.Helper()
	conf := strings.Replace(demoConf(t, false), "    geoip builtin\n", "    geoip "+db+"\n", 1)
	const service = "    service app {\n        policy geo\n        ttl    30\n"
	if !strings.Contains(conf, service) {
		t.Fatal("the demo's app service changed: update subdivisionConf")
	}
	return strings.Replace(conf, service, service+"        map {\n            subdivision us-ca -> ap-southeast\n"+
		"            country US -> us-east\n            subdivision GB-SCT -> us-east\n        }\n", 1)
}

// TestServeSubdivisions runs the real binary with a GeoLite2-City database
// that has subdivisions and asks kdig from California, New York and
// England: a subdivision entry wins over its country's, a client of
// another subdivision falls to its country or the distance, with the
// GeoIP network as ECS scope; explain names the entry. With the builtin
// database, which has no subdivisions, the entry is warned about at start.
func TestServeSubdivisions(t *testing.T) {
	db := writeCityDB(t, map[string]mmdbtype.Map{
		"8.8.8.0/24":   cityRecord("US", "NA", 37.39, -122.08, "CA"),
		"9.9.9.0/24":   cityRecord("US", "NA", 40.71, -74.01, "NY"),
		"81.2.69.0/24": cityRecord("GB", "EU", 51.51, -0.09, "ENG", "WSM"),
		"81.2.70.0/24": cityRecord("GB", "EU", 55.95, -3.19, "SCT"),
	})
	p := startMeridian(t, subdivisionConf(t, db))
	for _, rec := range p.startup {
		if strings.Contains(fmt.Sprint(rec["msg"]), "never matches") {
			t.Errorf("warned with a City database: %v", rec["msg"])
		}
	}
	const app = "app.gslb.example.com"
	for _, tc := range []struct{ subnet, want, scope string }{
		{"8.8.8.0/24", "ap-southeast", "8.8.8.0/24/24"}, // US-CA: its subdivision entry
		{"9.9.9.0/24", "us-east", "9.9.9.0/24/24"},      // US-NY: the country entry
		{"81.2.69.0/24", "eu-west", "81.2.69.0/24/24"},  // GB-ENG: no entry, by distance
		{"81.2.70.0/24", "us-east", "81.2.70.0/24/24"},  // GB-SCT
	} {
		r := kdig(t, p.dnsPort, app, "+subnet="+tc.subnet)
		if got := demoCluster(r); got != tc.want {
			t.Errorf("+subnet=%s: answered from %s, want %s (%v)", tc.subnet, got, tc.want, r.answer)
		}
		if r.subnet != tc.scope {
			t.Errorf("+subnet=%s: CLIENT-SUBNET %s, want %s", tc.subnet, r.subnet, tc.scope)
		}
	}
	var e struct {
		Entry string `json:"entry"`
	}
	demoGet(t, p, "/api/v1/explain?name="+app+"&client=8.8.8.8", &e)
	if !strings.HasPrefix(e.Entry, "map entry subdivision US-CA at meridian.conf:") {
		t.Errorf("explain for California: entry %q", e.Entry)
	}

	builtin := startMeridian(t, strings.Replace(subdivisionConf(t, db), "    geoip "+db+"\n", "    geoip builtin\n", 1))
	var warned []string
	for _, rec := range builtin.startup {
		if msg := fmt.Sprint(rec["msg"]); strings.Contains(msg, "never matches") {
			warned = append(warned, msg)
		}
	}
	if len(warned) != 2 || !strings.HasPrefix(warned[0], "meridian.conf:") ||
		!strings.Contains(warned[0], "the map entry subdivision US-CA of service app.gslb.example.com never matches: the GeoIP database builtin") {
		t.Errorf("builtin database: warnings %q, want one per subdivision entry", warned)
	}
}

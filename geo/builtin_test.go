package geo

import (
	"net/netip"
	"regexp"
	"testing"

	"github.com/meridian-gtm/meridian/model"
)

func TestBuiltin(t *testing.T) {
	db, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The date changes with every refresh by update-data.sh.
	descRE := regexp.MustCompile(`^builtin geo-whois-asn-country \(country ipvAll, built \d{4}-\d{2}-\d{2}\)$`)
	if got := db.Description(); !descRE.MatchString(got) {
		t.Errorf("Description() = %q, want a match of %s", got, descRE)
	}
	for addr, w := range map[string]struct{ country, continent string }{
		"81.2.69.1":         {"GB", "EU"},
		"::ffff:81.2.69.1":  {"GB", "EU"},
		"8.8.8.8":           {"US", "NA"},
		"13.250.0.1":        {"SG", "AS"},
		"2001:4860:4860::8": {"US", "NA"},
	} {
		ip := netip.MustParseAddr(addr)
		got := db.Lookup(ip)
		if got.Country != w.country || got.Continent != w.continent || !got.At.Known() {
			t.Errorf("Lookup(%s) = %+v, want %s, %s with a point", addr, got, w.country, w.continent)
		}
		if c, _ := CountryInfo(w.country); got.At != model.LocationAt(c.Centroid) {
			t.Errorf("Lookup(%s) point = %v, want the centroid %v", addr, got.At, c.Centroid)
		}
		if n := got.Network; !n.Contains(ip.Unmap()) || n.Addr().Is4() != ip.Unmap().Is4() || n.Bits() < 8 {
			t.Errorf("Lookup(%s) network = %v", addr, n)
		}
	}
	for addr, network := range map[string]string{
		"127.0.0.1":         "127.0.0.0/8",
		"::ffff:127.0.0.53": "127.0.0.0/8",
		"10.20.30.40":       "10.0.0.0/8",
	} {
		want := Location{Network: netip.MustParsePrefix(network)}
		if got := db.Lookup(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Lookup(%s) = %+v, want %+v", addr, got, want)
		}
	}
}

// Each Builtin call opens its own DB: closing one leaves the others working.
func TestBuiltinIndependent(t *testing.T) {
	a, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := b.Lookup(netip.MustParseAddr("81.2.69.1")); got.Country != "GB" {
		t.Errorf("Lookup after closing another builtin DB = %+v", got)
	}
}

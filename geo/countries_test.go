package geo

import (
	"slices"
	"testing"

	"github.com/meridian-gtm/meridian/model"
)

func TestCountryInfo(t *testing.T) {
	for code, continent := range map[string]string{
		"GB": "EU", "gb": "EU", "Gb": "EU", "BR": "SA", "br": "SA", "US": "NA", "MX": "NA",
		"JM": "NA", "SG": "AS", "AU": "OC", "KE": "AF", "AQ": "AN", "DE": "EU", "XK": "EU",
	} {
		c, ok := CountryInfo(code)
		if !ok {
			t.Errorf("CountryInfo(%q) not found", code)
			continue
		}
		if c.Continent != continent {
			t.Errorf("CountryInfo(%q).Continent = %q, want %q", code, c.Continent, continent)
		}
		if want := string(upper(code[0])) + string(upper(code[1])); c.Code != want {
			t.Errorf("CountryInfo(%q).Code = %q, want %q", code, c.Code, want)
		}
	}
	gb, _ := CountryInfo("gb")
	if d := gb.Centroid.DistanceKm(model.Point{Lat: 54, Lon: -2}); d > 50 {
		t.Errorf("GB centroid %v is %.0f km from (54, -2)", gb.Centroid, d)
	}
	for _, code := range []string{"ZZ", "zz", "", "G", "GBR", "1A", "G\x00", "é"} {
		if c, ok := CountryInfo(code); ok {
			t.Errorf("CountryInfo(%q) = %+v, want not found", code, c)
		}
	}
}

// The generated table must be usable: sorted, unique, complete entries.
func TestCountryTable(t *testing.T) {
	if len(countries) < 240 {
		t.Errorf("only %d countries in the table", len(countries))
	}
	if !slices.IsSortedFunc(countries[:], func(a, b Country) int { return compareStrings(a.Code, b.Code) }) {
		t.Error("countries is not sorted by code")
	}
	continents := []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}
	for i, c := range countries {
		if i > 0 && countries[i-1].Code == c.Code {
			t.Errorf("%s listed twice", c.Code)
		}
		if !slices.Contains(continents, c.Continent) {
			t.Errorf("%s: continent %q", c.Code, c.Continent)
		}
		if !c.Centroid.Valid() {
			t.Errorf("%s: centroid %v", c.Code, c.Centroid)
		}
		if got, ok := CountryInfo(c.Code); !ok || got != c {
			t.Errorf("CountryInfo(%q) = %+v, %v", c.Code, got, ok)
		}
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/meridian-gtm/meridian/model"
)

const geoClusters = "cluster eu-west {\n    location 53.35 -6.26\n    bias 20\n    static {\n    }\n}\ncluster us-east {\n    location 38.9 -77.0\n    static {\n    }\n}\n"

// TestBiasAndSubnets: a cluster's bias and the subnet file reach the
// policies that Solve compiles into the Plan.
func TestBiasAndSubnets(t *testing.T) {
	dir := t.TempDir()
	nets := "# offices\n198.51.100.0/24 eu-west US-EAST   # VPN\n\n10.0.0.0/8 us-east\n2001:db8::/32 eu-west\n"
	if err := os.WriteFile(filepath.Join(dir, "nets.txt"), []byte(nets), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "meridian.conf")
	if err := os.WriteFile(conf, []byte("meridian {\n    subnets nets.txt\n}\n"+geoClusters), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policies()
	if !reflect.DeepEqual(p.Bias, map[string]int{"eu-west": 20}) {
		t.Errorf("bias %v", p.Bias)
	}
	want := []model.Net{
		{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Clusters: []string{"eu-west", "us-east"}, Source: "nets.txt:2"},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Clusters: []string{"us-east"}, Source: "nets.txt:4"},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), Clusters: []string{"eu-west"}, Source: "nets.txt:5"},
	}
	if !reflect.DeepEqual(p.Nets, want) {
		t.Errorf("nets\n%+v\nwant\n%+v", p.Nets, want)
	}
}

// TestSubnetErrors: every mistake in the subnet file is reported with its
// FILE:LINE, all at once.
func TestSubnetErrors(t *testing.T) {
	dir := t.TempDir()
	nets := filepath.Join(dir, "nets.txt")
	body := strings.Join([]string{
		"198.51.100.0/24 eu-west",
		"198.51.100.1/24 eu-west",
		"198.51.100.0/24 us-east",
		"10.0.0.0/8",
		"10.0.0.0/33 us-east",
		"192.0.2.0/24 ap-south",
		"192.0.3.0/24 us-east us-east",
		"",
	}, "\n")
	if err := os.WriteFile(nets, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse(filepath.Join(dir, "t.conf"), []byte("meridian {\n    subnets nets.txt\n}\n"+geoClusters))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		nets + `:2: subnets: 198.51.100.1/24 has host bits set; write 198.51.100.0/24`,
		nets + `:3: subnets: 198.51.100.0/24 already listed at line 1`,
		nets + `:4: subnets: expected CIDR CLUSTER [CLUSTER...], got "10.0.0.0/8"`,
		nets + `:5: subnets: "10.0.0.0/33" is not a CIDR such as 198.51.100.0/24 or 2001:db8::/32`,
		nets + `:6: subnets: 192.0.2.0/24: unknown cluster "ap-south"`,
		nets + `:7: subnets: 192.0.3.0/24: cluster us-east listed twice`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	_, err = Parse(filepath.Join(dir, "t.conf"), []byte("meridian {\n    subnets missing.txt\n}\n"+geoClusters))
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, "t.conf")+":2: subnets: stat ") {
		t.Errorf("missing file: %v", err)
	}
}

func TestBiasErrors(t *testing.T) {
	for _, tc := range []struct{ name, conf, want string }{
		{"out of range", "cluster a {\n    location 1 2\n    bias 100\n    static {\n    }\n}\n", `t.conf:3: bias: expected a percentage from -99 to 99, got "100"`},
		{"not a number", "cluster a {\n    location 1 2\n    bias 5%\n    static {\n    }\n}\n", `t.conf:3: bias: expected a percentage from -99 to 99, got "5%"`},
		{"without a location", "cluster a {\n    bias -20\n    static {\n    }\n}\n", `t.conf:1: cluster a: bias needs a location: it scales the distance to the cluster`},
	} {
		_, err := Parse("t.conf", []byte(tc.conf))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.want)
		}
	}
}

const mapZone = "zone example.org {\n    ns ns.example.net\n    service app {\n        map {\n%s        }\n    }\n}\n"

func mapConf(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("            " + l + "\n")
	}
	return geoClusters + strings.Replace(mapZone, "%s", b.String(), 1)
}

// TestMap: map entries reach the service's policy, codes upper case.
func TestMap(t *testing.T) {
	c, err := Parse("t.conf", []byte(mapConf(
		"country de FR -> eu-west us-east",
		"fence continent eu -> eu-west",
		"subnet 198.51.100.0/24 2001:db8::/32 -> US-EAST",
		"default -> us-east eu-west",
		"subdivision us-ca US-or -> us-east",
	)))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Policies().Services()[0].Map
	want := []model.MapEntry{
		{Match: model.MatchCountry, Codes: []string{"DE", "FR"}, Clusters: []string{"eu-west", "us-east"}, Source: "t.conf:16"},
		{Match: model.MatchContinent, Codes: []string{"EU"}, Clusters: []string{"eu-west"}, Fence: true, Source: "t.conf:17"},
		{Match: model.MatchSubnet, Subnets: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}, Clusters: []string{"us-east"}, Source: "t.conf:18"},
		{Match: model.MatchDefault, Clusters: []string{"us-east", "eu-west"}, Source: "t.conf:19"},
		{Match: model.MatchSubdivision, Codes: []string{"US-CA", "US-OR"}, Clusters: []string{"us-east"}, Source: "t.conf:20"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("map\n%+v\nwant\n%+v", got, want)
	}
	if d := got[1].Describe(); d != "map entry continent EU (fence)" {
		t.Errorf("describe: %q", d)
	}
}

// TestMapErrors: every mistake in a map names its line.
func TestMapErrors(t *testing.T) {
	_, err := Parse("t.conf", []byte(mapConf(
		"country DE -> eu-west",    // 17
		"country XX de -> eu-west", // 17: an unknown code drops the entry
		"continent Europe aſ -> eu-west",
		"subnet 10.0.0.1/8 -> eu-west",
		"default eu-west",
		"default -> ap-south eu-west eu-west",
		"subdivision de-by XX-CA US-CALI us_ca US-ſC -> eu-west",
		"region eu -> eu-west",
		"fence country -> eu-west",
	)))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`t.conf:17: map: country "XX" is not an ISO 3166-1 alpha-2 code such as DE`,
		`t.conf:18: map: continent "Europe" is not one of AF AN AS EU NA OC SA`,
		`t.conf:18: map: continent "aſ" is not one of AF AN AS EU NA OC SA`,
		`t.conf:19: map: 10.0.0.1/8 has host bits set; write 10.0.0.0/8`,
		`t.conf:20: map: expected [fence] subnet CIDR...|country CC...|subdivision CC-SUB...|continent CODE...|default -> CLUSTER...`,
		`t.conf:21: map: no cluster "ap-south" is declared`,
		`t.conf:21: map: cluster eu-west is listed twice`,
		`t.conf:22: map: subdivision "XX-CA" is not an ISO 3166-2 code such as US-CA or DE-BY`,
		`t.conf:22: map: subdivision "US-CALI" is not an ISO 3166-2 code such as US-CA or DE-BY`,
		`t.conf:22: map: subdivision "us_ca" is not an ISO 3166-2 code such as US-CA or DE-BY`,
		`t.conf:22: map: subdivision "US-ſC" is not an ISO 3166-2 code such as US-CA or DE-BY`,
		`t.conf:23: map: unknown entry "region"; expected [fence] subnet CIDR...|country CC...|subdivision CC-SUB...|continent CODE...|default -> CLUSTER...`,
		`t.conf:24: map: country needs at least one value before ->`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	_, err = Parse("t.conf", []byte(mapConf("country DE -> eu-west", "country FR de -> us-east", "default -> eu-west", "default -> us-east",
		"subdivision US-TX -> us-east", "subdivision us-tx -> eu-west", "country it IT -> eu-west")))
	want = []string{`t.conf:17: map: country DE already has an entry at line 16`, `t.conf:19: map: default already has an entry at line 18`,
		`t.conf:21: map: subdivision US-TX already has an entry at line 20`, `t.conf:22: map: country IT is listed twice`}
	if err == nil || !reflect.DeepEqual(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("duplicates: %v", err)
	}

	conf := strings.Replace(mapConf("default -> eu-west"), "    service app {\n", "    service app {\n        policy failover\n        order eu-west\n", 1)
	if _, err := Parse("t.conf", []byte(conf)); err == nil || err.Error() != `t.conf:17: map: only the geo policy takes a map; service app is failover` {
		t.Errorf("map with failover: %v", err)
	}
}

// TestZoneMap: a zone's map is the map of each of its geo services that
// has none of its own; a service's own map replaces it, and services of
// other policies do without. Its entries are checked once, naming lines.
func TestZoneMap(t *testing.T) {
	conf := geoClusters + `zone example.org {
    ns ns.example.net
    map {
        fence continent EU -> eu-west
        default -> us-east
    }
    service app {
    }
    service own {
        map {
            country DE -> us-east
        }
    }
    service fo {
        policy failover
        order us-east eu-west
    }
}
`
	c, err := Parse("t.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	maps := map[string]string{}
	for _, sp := range c.Policies().Services() {
		var ds []string
		for _, e := range sp.Map {
			ds = append(ds, describeEntryAt(e))
		}
		maps[sp.Service] = strings.Join(ds, "; ")
	}
	want := map[string]string{
		"app.example.org": "map entry continent EU (fence) t.conf:15 [eu-west]; map entry default t.conf:16 [us-east]",
		"own.example.org": "map entry country DE t.conf:22 [us-east]",
		"fo.example.org":  "",
	}
	if !reflect.DeepEqual(maps, want) {
		t.Errorf("maps\n%q\nwant\n%q", maps, want)
	}

	bad := strings.Replace(conf, "default -> us-east", "default -> us-east us-east\n        country XX -> eu-west", 1)
	_, err = Parse("t.conf", []byte(bad))
	wantErr := "t.conf:16: map: cluster us-east is listed twice\nt.conf:17: map: country \"XX\" is not an ISO 3166-1 alpha-2 code such as DE"
	if err == nil || err.Error() != wantErr {
		t.Errorf("a bad zone map: %v\nwant\n%s", err, wantErr)
	}
}

func describeEntryAt(e model.MapEntry) string {
	return fmt.Sprintf("%s %s %v", e.Describe(), e.Source, e.Clusters)
}

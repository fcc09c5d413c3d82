package dns

import (
	"reflect"
	"testing"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/internal/fieldcover"
)

// zonesOf turns zones of a parsed config into the loader's input, as
// cmd/meridian does (dnsZones there), so that tests can write zones in
// the config's syntax. It is a copy: dns may not import config, and
// cmd/meridian's conversion is in package main, which no test of dns can
// import. TestZonesOfCopiesEveryField keeps it whole, as
// TestOptionsCopyEveryField keeps cmd/meridian's.
func zonesOf(zones []config.Zone) []ZoneConfig {
	out := make([]ZoneConfig, 0, len(zones))
	for _, z := range zones {
		zc := ZoneConfig{
			Pos: Pos(z.Pos), Origin: z.Origin, TTL: z.TTL,
			SOA: SOAConfig{MName: z.SOA.MName, RName: z.SOA.RName, Refresh: z.SOA.Refresh, Retry: z.SOA.Retry,
				Expire: z.SOA.Expire, Minimum: z.SOA.Minimum, Serial: z.SOA.Serial, HasSerial: z.SOA.HasSerial},
			AllowTransfer: z.AllowTransfer, Notify: z.Notify, AllowTransferWithoutServices: z.AllowTransferWithoutServices,
		}
		for _, ns := range z.NS {
			zc.NS = append(zc.NS, NameServer{Name: ns.Name, Glue: ns.Glue})
		}
		for _, s := range z.Services {
			zc.Services = append(zc.Services, ServiceConfig{FQDN: s.FQDN, TTL: s.TTL, MaxAnswers: s.MaxAnswers, IgnoreECS: s.IgnoreECS})
		}
		for _, r := range z.Records {
			zc.Records = append(zc.Records, Record{Pos: Pos(r.Pos), Text: r.Text})
		}
		for _, f := range z.Files {
			zc.Files = append(zc.Files, ZoneFile{Pos: Pos(f.Pos), Path: f.Path})
		}
		if d := z.DNSSEC; d != nil {
			zc.DNSSEC = &DNSSECConfig{Pos: Pos(d.Pos), Keys: d.Keys, Algorithm: d.Algorithm, ZSKLifetime: d.ZSKLifetime, Propagation: d.Propagation}
		}
		out = append(out, zc)
	}
	return out
}

// TestZonesOfCopiesEveryField: a field added to ZoneConfig (or to a type
// under it) that zonesOf does not copy would leave it zero in every test
// that writes its zones in the config's syntax, which would then test less
// than they say.
func TestZonesOfCopiesEveryField(t *testing.T) {
	var z config.Zone
	fieldcover.Fill(reflect.ValueOf(&z).Elem())
	fieldcover.CheckSet(t, "ZoneConfig", reflect.ValueOf(zonesOf([]config.Zone{z})[0]))
}

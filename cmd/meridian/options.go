package main

import (
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/dns"
	"github.com/meridian-gtm/meridian/health"
)

// The functions of this file turn the config's blocks into the options of
// the components (dns, health), which do not import config: cmd/meridian
// is the one place that knows both. TestOptionsCopyEveryField checks that
// none of them forgets a field.

// dnsZones returns what the DNS server's zone loader takes of the zones.
func dnsZones(zones []config.Zone) []dns.ZoneConfig {
	out := make([]dns.ZoneConfig, 0, len(zones))
	for _, z := range zones {
		out = append(out, dnsZone(z))
	}
	return out
}

func dnsZone(z config.Zone) dns.ZoneConfig {
	zc := dns.ZoneConfig{
		Pos: dns.Pos(z.Pos), Origin: z.Origin, TTL: z.TTL,
		SOA: dns.SOAConfig{MName: z.SOA.MName, RName: z.SOA.RName, Refresh: z.SOA.Refresh, Retry: z.SOA.Retry,
			Expire: z.SOA.Expire, Minimum: z.SOA.Minimum, Serial: z.SOA.Serial, HasSerial: z.SOA.HasSerial},
		AllowTransfer: z.AllowTransfer, Notify: z.Notify, AllowTransferWithoutServices: z.AllowTransferWithoutServices,
	}
	for _, ns := range z.NS {
		zc.NS = append(zc.NS, dns.NameServer{Name: ns.Name, Glue: ns.Glue})
	}
	for _, s := range z.Services {
		zc.Services = append(zc.Services, dns.ServiceConfig{FQDN: s.FQDN, TTL: s.TTL, MaxAnswers: s.MaxAnswers, IgnoreECS: s.IgnoreECS})
	}
	for _, r := range z.Records {
		zc.Records = append(zc.Records, dns.Record{Pos: dns.Pos(r.Pos), Text: r.Text})
	}
	for _, f := range z.Files {
		zc.Files = append(zc.Files, dns.ZoneFile{Pos: dns.Pos(f.Pos), Path: f.Path})
	}
	if d := z.DNSSEC; d != nil {
		zc.DNSSEC = &dns.DNSSECConfig{Pos: dns.Pos(d.Pos), Keys: d.Keys, Algorithm: d.Algorithm,
			ZSKLifetime: d.ZSKLifetime, Propagation: d.Propagation}
	}
	return zc
}

// dnsLimiter returns the response-rate limits of the rrl directive; nil
// without one.
func dnsLimiter(r *config.RRL) *dns.LimiterConfig {
	if r == nil {
		return nil
	}
	return &dns.LimiterConfig{ResponsesPerSecond: r.ResponsesPerSecond, Window: r.Window, Slip: r.Slip,
		IPv4Prefix: r.IPv4Prefix, IPv6Prefix: r.IPv6Prefix}
}

// healthChecks returns the health block of every probed service by name.
func healthChecks(cfg *config.Config) map[string]health.Check {
	checks := map[string]health.Check{}
	for _, z := range cfg.Zones {
		for _, s := range z.Services {
			if s.Probed() {
				checks[s.FQDN] = healthCheck(*s.Health)
			}
		}
	}
	return checks
}

func healthCheck(h config.HealthCheck) health.Check {
	c := health.Check{
		Pos: h.Pos.String(), Kind: h.Kind, Port: h.Port, Path: h.Path, Method: h.Method, Host: h.Host,
		Body: h.Body, Interval: h.Interval, Timeout: h.Timeout, Jitter: h.Jitter, Rise: h.Rise, Fall: h.Fall,
		InsecureSkipVerify: h.InsecureSkipVerify, CA: h.CA, ClientCert: h.ClientCert, ClientKey: h.ClientKey,
		GRPCService: h.GRPCService,
	}
	for _, r := range h.Expect {
		c.Expect = append(c.Expect, health.StatusRange{Low: r.Low, High: r.High})
	}
	return c
}

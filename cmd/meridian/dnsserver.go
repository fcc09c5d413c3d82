package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/dns"
)

// dnsServerConfig is what the DNS server takes from the configuration:
// listen addresses, sockets and the limits on clients.
func dnsServerConfig(cfg *config.Config, handler *dns.Handler, stats *dns.Stats, tap *dns.Tap, logger *slog.Logger) dns.ServerConfig {
	m := &cfg.Meridian
	return dns.ServerConfig{
		Addrs: m.DNS, Handler: handler, Stats: stats, Limiter: dns.NewLimiter(dnsLimiter(m.RRL)), Tap: tap, Logger: logger,
		UDPSockets:            m.UDPSockets,
		TCPMaxConns:           m.TCPMaxConns,
		TCPMaxConnsPerNetwork: m.TCPMaxConnsPerNetwork,
		TCPIPv4Prefix:         m.TCPIPv4Prefix,
		TCPIPv6Prefix:         m.TCPIPv6Prefix,
	}
}

// startDnstap starts the query log of the config's dnstap directive; nil
// without one.
func startDnstap(cfg *config.Config, reg prometheus.Registerer, logger *slog.Logger) (*dns.Tap, error) {
	t := cfg.Meridian.Dnstap
	if t == nil {
		return nil, nil
	}
	tap, err := dns.NewTap(dns.TapConfig{
		Network: t.Network, Addr: t.Addr, Sample: t.Sample, Queries: t.Queries, Responses: t.Responses,
		Identity: cfg.Meridian.Replica, Version: "meridian " + buildVersion(), Logger: logger,
	}, reg)
	if err != nil {
		return nil, fmt.Errorf("%s: dnstap: %w", t.Pos, err)
	}
	logger.Info("dnstap on", "to", t.Network+":"+t.Addr, "sample", t.Sample, "queries", t.Queries, "responses", t.Responses)
	return tap, nil
}

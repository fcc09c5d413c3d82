package main

import (
	"log/slog"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/dns"
)

// dnsServerConfig is what the DNS server takes from the configuration:
// listen addresses, sockets and the limits on clients.
func dnsServerConfig(cfg *config.Config, handler *dns.Handler, stats *dns.Stats, logger *slog.Logger) dns.ServerConfig {
	m := &cfg.Meridian
	return dns.ServerConfig{
		Addrs: m.DNS, Handler: handler, Stats: stats, Limiter: dns.NewLimiter(m.RRL), Logger: logger,
		UDPSockets:            m.UDPSockets,
		TCPMaxConns:           m.TCPMaxConns,
		TCPMaxConnsPerNetwork: m.TCPMaxConnsPerNetwork,
		TCPIPv4Prefix:         m.TCPIPv4Prefix,
		TCPIPv6Prefix:         m.TCPIPv6Prefix,
	}
}

package main

import (
	"testing"

	"github.com/meridian-gtm/meridian/config"
)

// TestDNSServerConfigTakesTCPLimits checks that the TCP limits of the
// meridian block reach the DNS server.
func TestDNSServerConfigTakesTCPLimits(t *testing.T) {
	cfg, err := config.Parse("t.conf", []byte(`meridian {
    dns 127.0.0.1:0
    udp_sockets 3
    tcp_max_conns 4000
    tcp_max_conns_per_network 40 32 64
}
zone example.org {
    ns ns1.example.org 192.0.2.53
}
`))
	if err != nil {
		t.Fatal(err)
	}
	sc := dnsServerConfig(cfg, nil, nil, nil, nil)
	if sc.UDPSockets != 3 || sc.TCPMaxConns != 4000 || sc.TCPMaxConnsPerNetwork != 40 || sc.TCPIPv4Prefix != 32 || sc.TCPIPv6Prefix != 64 {
		t.Errorf("dns.ServerConfig %+v lacks udp_sockets 3, tcp_max_conns 4000, tcp_max_conns_per_network 40 32 64", sc)
	}
	if len(sc.Addrs) != 1 || sc.Addrs[0] != "127.0.0.1:0" {
		t.Errorf("Addrs = %v", sc.Addrs)
	}
}

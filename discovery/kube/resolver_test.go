package kube

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/dns"
	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
)

// startResolver runs a real DNS server (Meridian's own) that answers one
// name with one address, for load balancer hostnames in tests; it returns
// its address.
func startResolver(t *testing.T, name, addr string) string {
	t.Helper()
	c, err := config.Parse("t.conf", []byte("zone example.test {\n    ns ns.example.net\n    record "+name+". 30 A "+addr+"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	zs, err := dns.LoadZones(c.Zones, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := dns.NewHandler(zs, noLocation{}, dns.Options{}, nil)
	h.Publish(&model.Plan{})
	s, err := dns.Listen(dns.ServerConfig{Addrs: []string{"127.0.0.1:0"}, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s.Addrs()[0].String()
}

type noLocation struct{}

func (noLocation) Lookup(netip.Addr) geo.Location { return geo.Location{} }

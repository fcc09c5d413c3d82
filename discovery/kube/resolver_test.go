package kube

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/dns"
	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
)

// startResolver runs a real DNS server (Meridian's own) that answers one
// name with one address, for load balancer hostnames in tests; it returns
// its address.
func startResolver(t *testing.T, name, addr string) string {
	t.Helper()
	zs, err := dns.LoadZones([]dns.ZoneConfig{{
		Pos: dns.Pos{File: "t.conf", Line: 1}, Origin: "example.test", TTL: 3600,
		SOA:     dns.SOAConfig{MName: "ns.example.net", RName: "hostmaster.example.test", Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60},
		NS:      []dns.NameServer{{Name: "ns.example.net"}},
		Records: []dns.Record{{Pos: dns.Pos{File: "t.conf", Line: 3}, Text: name + ". 30 A " + addr}},
	}}, nil, time.Now())
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

// TestResolverForgetsUnusedHosts resolves a load balancer hostname for as
// long as some cluster names it: when the last one stops, its refresh
// goroutine ends, so hostnames that come and go leave nothing behind.
func TestResolverForgetsUnusedHosts(t *testing.T) {
	const host = "lb.example.test"
	changed := make(chan struct{}, 8)
	r := newHostResolver(t.Context(), startResolver(t, host, "192.0.2.21"), func() { changed <- struct{}{} })
	r.lookup(host)
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("the hostname was not resolved within 10s")
	}
	if got := r.lookup(host); len(got) != 1 || got[0] != netip.MustParseAddr("192.0.2.21") {
		t.Fatalf("lookup: %v", got)
	}
	r.keep("a", map[string]bool{host: true})
	r.keep("b", map[string]bool{host: true})
	r.keep("a", nil) // b still names it
	if got := r.lookup(host); len(got) != 1 {
		t.Fatalf("dropped while cluster b names it: %v", got)
	}
	r.keep("b", map[string]bool{})
	done := make(chan struct{})
	go func() { r.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh goroutine still runs 10s after no cluster names the host")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.hosts) != 0 {
		t.Errorf("hosts kept: %v", r.hosts)
	}
}

package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// TestServerDefersSigning sends a burst of queries for new names of a
// signed zone, each needing a denial signed online, mixed with queries
// for a name whose answer is signed already, in one socket's batches.
// Every query gets one response with its ID: the signed ones deferred to
// the socket's worker come back with a denial that validates, those the
// worker had no room for with TC, and each is counted once. Asked again
// one at a time, every name is signed.
func TestServerDefersSigning(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHandler(t, signedConf(t.TempDir()))
	keys := zoneDNSKEYs(t, h)
	s := startServer(t, ServerConfig{Handler: h, Stats: NewStats(reg), UDPSockets: 1})
	c, err := net.Dial("udp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const n = 60
	name := func(i int) string {
		if i%3 == 0 {
			return "www.gslb.example.com."
		}
		return fmt.Sprintf("new%d.gslb.example.com.", i)
	}
	for i := range n {
		m := testQuery{name: name(i), qtype: mdns.TypeA}.msg()
		m.Id = uint16(i)
		b, _ := m.Pack()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	var signed, tc int
	seen := map[uint16]bool{}
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(seen) < n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%d of %d answers: %v", len(seen), n, err)
		}
		var r mdns.Msg
		if err := r.Unpack(buf[:k]); err != nil {
			t.Fatal(err)
		}
		if int(r.Id) >= n || seen[r.Id] || r.Question[0].Name != name(int(r.Id)) {
			t.Fatalf("unexpected answer %d for %s", r.Id, r.Question[0].Name)
		}
		seen[r.Id] = true
		switch {
		case r.Id%3 == 0:
			verify(t, &r, keys)
			if len(r.Answer) == 0 {
				t.Errorf("www: %v", &r)
			}
		case r.Truncated:
			tc++
		default:
			verify(t, &r, keys)
			if nsecOf(t, &r) == nil {
				t.Errorf("%s: %v", name(int(r.Id)), &r)
			}
			signed++
		}
	}
	t.Logf("of %d new names: %d signed by the worker, %d truncated", n*2/3, signed, tc)
	if signed == 0 {
		t.Error("no new name was signed")
	}

	// Every query counted once, when its response went out.
	deadline := time.Now().Add(5 * time.Second)
	for counted(t, reg, "meridian_dns_queries_total") != n {
		if time.Now().After(deadline) {
			t.Fatalf("%v queries counted, want %d", counted(t, reg, "meridian_dns_queries_total"), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.Zones().zones[0].signer.refused[workerBusy].Load(); got != uint64(tc) {
		t.Errorf("%d refusals counted, want %d", got, tc)
	}

	for i := range n {
		m := testQuery{name: name(i), qtype: mdns.TypeA}.msg()
		r, _, err := (&mdns.Client{Timeout: 2 * time.Second}).Exchange(m, s.Addrs()[0].String())
		if err != nil || r.Truncated {
			t.Fatalf("%s alone: %v %v", name(i), r, err)
		}
		verify(t, r, keys)
	}
}

// counted sums the values of a metric family.
func counted(t *testing.T, reg *prometheus.Registry, family string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() == family {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestServerShutdownWithDeferred shuts the server down while its worker
// holds queries: Shutdown returns, and the race detector sees the worker
// write to the socket only before the reader closes it.
func TestServerShutdownWithDeferred(t *testing.T) {
	h := newTestHandler(t, signedConf(t.TempDir()))
	s, err := Listen(ServerConfig{Handler: h, Addrs: []string{"127.0.0.1:0"}, UDPSockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 40 {
		b, _ := testQuery{name: fmt.Sprintf("gone%d.gslb.example.com.", i), qtype: mdns.TypeA}.msg().Pack()
		c.Write(b)
	}
	// The first response shows the reader has read the burst.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestWorkerRoomAdmits: while more than a quarter of the worker's places
// are free any network takes one; the last quarter go only to networks
// that hold none; a full room admits nobody.
func TestWorkerRoomAdmits(t *testing.T) {
	u := &udpSocket{free: make(chan *signJob, workerRoom)}
	flood := netip.MustParseAddr("192.0.2.7")
	slot := roomSlot(flood)
	other := netip.MustParseAddr("198.51.100.7")
	for roomSlot(other) == slot {
		other = netip.AddrFrom4([4]byte{198, 51, other.As4()[2] + 1, 7}) // a network of another slot
	}
	for free := workerRoom; free >= 0; free-- {
		for len(u.free) > free {
			<-u.free
		}
		for len(u.free) < free {
			u.free <- new(signJob)
		}
		u.held[slot].Store(int32(workerRoom - free))
		floodOK := u.signMode(flood) == signDefer
		otherOK := u.signMode(other) == signDefer
		if want := free > workerRoom/4; floodOK != want {
			t.Errorf("%d free, the flood's network holding the rest: admitted %v, want %v", free, floodOK, want)
		}
		if want := free > 0; otherOK != want {
			t.Errorf("%d free, another network holding none: admitted %v, want %v", free, otherOK, want)
		}
	}
}

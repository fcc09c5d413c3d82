package dns

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// planWorld is a handler for conf with the inputs of its Plans, solved by
// one Solver as the weights loop solves them, so that a Plan hands on the
// plans of the services it did not change.
type planWorld struct {
	h      *Handler
	solver weights.Solver
	inv    model.Inventory
	pol    model.Policies
}

func newPlanWorld(t *testing.T, conf string) *planWorld {
	t.Helper()
	c, zs := loadTestConf(t, conf)
	w := &planWorld{h: NewHandler(zs, locator, Options{ChaosVersion: c.Meridian.ChaosVersion}, nil),
		inv: config.StaticInventory(c.Clusters), pol: c.Policies()}
	w.publish()
	return w
}

// publish solves the inputs and publishes the Plan; it returns the table
// served then.
func (w *planWorld) publish() *table {
	w.h.Publish(w.solver.Solve(time.Unix(1_700_000_000, 0), w.inv, model.Health{}, model.Overrides{}, w.pol))
	return w.h.table.Load()
}

// dropCluster takes cluster out of service's backends: one EndpointSlice
// change.
func (w *planWorld) dropCluster(service, cluster string) {
	bs := slices.DeleteFunc(w.inv.BackendsOf(service), func(b model.Backend) bool { return b.Cluster == cluster })
	w.inv = w.inv.WithBackends(service, bs)
}

// servicesOf returns each global service's answers in t, by FQDN.
func servicesOf(t *table) map[string]*service {
	out := map[string]*service{}
	for i, slot := range t.layout.slots {
		out[slot.cfg.FQDN] = t.service(serviceID(i + 1))
	}
	return out
}

// TestPlanRecompilesOnlyChangedServices: a Plan that moves one service's
// shares compiles that service again and shares everything else with the
// table before it: the other services' answers (the same pointers), the
// zones and the chaos answers; and the table answers as one compiled from
// scratch for that Plan does, a CNAME chain into the changed service
// included.
func TestPlanRecompilesOnlyChangedServices(t *testing.T) {
	w := newPlanWorld(t, testConf)
	before := w.h.table.Load()
	w.dropCluster("app.gslb.example.com", "eu-west")
	after := w.publish()
	if after == before {
		t.Fatal("no new table")
	}
	old, now := servicesOf(before), servicesOf(after)
	if len(old) != 4 || len(now) != 4 {
		t.Fatalf("%d services before, %d after, want 4", len(old), len(now))
	}
	for name, svc := range now {
		switch changed := svc != old[name]; {
		case name == "app.gslb.example.com" && !changed:
			t.Errorf("%s, whose plan changed, was not compiled again", name)
		case name != "app.gslb.example.com" && changed:
			t.Errorf("%s, whose plan did not change, was compiled again", name)
		}
	}
	for origin, zt := range after.zones {
		if before.zones[origin] != zt {
			t.Errorf("zone %q compiled again for a Plan", origin)
		}
	}
	if fmt.Sprint(after.chaos) != fmt.Sprint(before.chaos) {
		t.Error("the chaos answers were compiled again for a Plan")
	}

	// The answers are those of a table compiled from scratch.
	scratch, err := compile(w.h.Zones(), after.plan, "meridian test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh := servicesOf(scratch)
	for name, svc := range now {
		for fam, pair := range map[string][2][]choices{"A": {svc.a, fresh[name].a}, "AAAA": {svc.aaaa, fresh[name].aaaa}} {
			got, want := pair[0], pair[1]
			if len(got) != len(want) {
				t.Fatalf("%s %s: %d buckets, from scratch %d", name, fam, len(got), len(want))
			}
			for b := range got {
				if !bytes.Equal(got[b].rrs, want[b].rrs) || !slices.Equal(got[b].cum, want[b].cum) {
					t.Errorf("%s %s bucket %d differs from the table compiled from scratch", name, fam, b)
				}
			}
		}
	}
	// Clients in Europe now get us-east, directly and through the CNAME go.
	for _, name := range []string{"app.gslb.example.com.", "go.gslb.example.com."} {
		r, _ := exchange(t, w.h, testQuery{name: name, qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), "", false)
		if got := addrs(r, mdns.TypeA); !slices.Equal(got, []string{"198.51.100.10"}) {
			t.Errorf("%s A from Europe after eu-west left: %v, want [198.51.100.10]", name, got)
		}
	}

	// A Plan that changes nothing compiles nothing.
	same := w.publish()
	for name, svc := range servicesOf(same) {
		if svc != now[name] {
			t.Errorf("%s compiled again for a Plan that changed nothing", name)
		}
	}
}

// addrs returns the addresses of r's answer records of type typ.
func addrs(r *mdns.Msg, typ uint16) []string {
	var out []string
	for _, rr := range r.Answer {
		switch a := rr.(type) {
		case *mdns.A:
			if typ == mdns.TypeA {
				out = append(out, a.A.String())
			}
		case *mdns.AAAA:
			if typ == mdns.TypeAAAA {
				out = append(out, a.AAAA.String())
			}
		}
	}
	return out
}

// TestSignedPlanRecompilesOnlyChangedServices: in a signed zone too, and
// the recompiled service's answers carry valid signatures of its new
// records.
func TestSignedPlanRecompilesOnlyChangedServices(t *testing.T) {
	w := newPlanWorld(t, signedConf(t.TempDir()))
	before := servicesOf(w.h.table.Load())
	w.dropCluster("app.gslb.example.com", "eu-west")
	after := servicesOf(w.publish())
	for name, svc := range after {
		if changed := svc != before[name]; changed != (name == "app.gslb.example.com") {
			t.Errorf("%s compiled again: %v", name, changed)
		}
	}
	keys := zoneDNSKEYs(t, w.h)
	r, _ := exchange(t, w.h, testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), "", false)
	if got := addrs(r, mdns.TypeA); !slices.Equal(got, []string{"198.51.100.10"}) {
		t.Fatalf("app A from Europe after eu-west left: %v", got)
	}
	verify(t, r, keys)
}

// TestZoneVersionRecompilesEverything: a new version of the zones (a new
// serial, new keys, a reload), new chaos texts and a signature refresh
// each compile the whole table again, every service with it, and a Plan
// that places clients differently does too.
func TestZoneVersionRecompilesEverything(t *testing.T) {
	keys := t.TempDir()
	w := newPlanWorld(t, signedConf(keys))
	h := w.h
	everything := func(what string, change func()) {
		t.Helper()
		before := h.table.Load()
		change()
		if h.Err() != nil {
			t.Fatalf("%s: %v", what, h.Err())
		}
		after := h.table.Load()
		for origin, zt := range after.zones {
			if before.zones[origin] == zt {
				t.Errorf("%s: zone %q not compiled again", what, origin)
			}
		}
		old := servicesOf(before)
		for name, svc := range servicesOf(after) {
			if svc == old[name] {
				t.Errorf("%s: service %s not compiled again", what, name)
			}
			if signer := after.zones[string(wire("gslb.example.com"))].static.signer; svc.signer != signer {
				t.Errorf("%s: service %s signed by another zone version's signer", what, name)
			}
		}
	}
	replaceZone := func(next func(z *staticZone) *staticZone) func() {
		return func() {
			zs := h.Zones()
			out := &Zones{}
			for _, z := range zs.zones {
				if z.signer != nil {
					z = next(z)
				}
				out.zones = append(out.zones, z)
			}
			if err := h.ReplaceZones(out); err != nil {
				t.Fatal(err)
			}
		}
	}
	everything("a new serial", replaceZone(func(z *staticZone) *staticZone { return z.withSerial(z.soa.Serial + 1) }))
	everything("new keys", replaceZone(func(z *staticZone) *staticZone {
		return z.withKeys(z.signer.keys, time.Unix(1_700_000_100, 0))
	}))
	everything("new chaos texts", func() {
		if err := h.SetZones(h.Zones(), Options{ChaosVersion: "other"}); err != nil {
			t.Fatal(err)
		}
	})
	everything("a signature refresh", func() {
		if err := h.RefreshSignatures(); err != nil {
			t.Fatal(err)
		}
	})
	everything("new sites", func() {
		clusters := w.inv.Clusters()
		clusters[0].Location = model.LocationAt(model.Point{Lat: 10, Lon: 10})
		w.inv = w.inv.WithClusters(clusters)
		w.publish()
	})
	// A reload from the config: new zones, and a full compile too.
	c, err := config.Parse("t.conf", []byte(signedConf(keys)))
	if err != nil {
		t.Fatal(err)
	}
	everything("a reload", func() {
		zs, err := LoadZones(zonesOf(c.Zones), h.Zones(), time.Unix(1_700_000_200, 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.SetZones(zs, Options{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPiledUpSignaturesSwept: the incremental compiles sweep no
// signatures; once they pile up beyond twice those in use, the next Plan
// compiles everything and the sweep drops those no table uses.
func TestPiledUpSignaturesSwept(t *testing.T) {
	w := newPlanWorld(t, signedConf(t.TempDir()))
	s := w.h.Zones().zones[0].signer
	w.publish() // a second full compile would come first from the signer's gens otherwise
	s.mu.Lock()
	inUse := len(s.sigs)
	for i := range 2*s.live + pileSlack + 1 {
		s.sigs[fmt.Sprintf("gone %d", i)] = &cachedSig{gen: 0}
	}
	s.mu.Unlock()
	before := servicesOf(w.h.table.Load())
	w.dropCluster("app.gslb.example.com", "eu-west")
	after := servicesOf(w.publish())
	if after["v4only.gslb.example.com"] == before["v4only.gslb.example.com"] {
		t.Error("with signatures piled up, a Plan did not compile everything")
	}
	s.mu.Lock()
	left := len(s.sigs)
	s.mu.Unlock()
	if left > inUse+pileSlack {
		t.Errorf("%d signatures kept after the sweep, %d were in use", left, inUse)
	}
	if s.piledUp() {
		t.Error("still piled up after the sweep")
	}
}

// TestServiceSetSharesUntouchedChunks: replacing services copies only
// their chunks; every other service is where it was, in a chunk shared
// with the set before.
func TestServiceSetSharesUntouchedChunks(t *testing.T) {
	svcs := make([]*service, 200) // 4 chunks, the last one partial
	for i := range svcs {
		svcs[i] = &service{name: fmt.Sprint(i)}
	}
	s := newServiceSet(svcs)
	a, b := &service{name: "new 70"}, &service{name: "new 199"}
	next := s.with([]serviceID{71, 200}, []*service{a, b})
	for i, svc := range svcs {
		want := svc
		switch i {
		case 70:
			want = a
		case 199:
			want = b
		}
		if got := next.get(serviceID(i + 1)); got != want {
			t.Fatalf("service %d: %s, want %s", i+1, got.name, want.name)
		}
		if got := s.get(serviceID(i + 1)); got != svc {
			t.Fatalf("the set before changed at %d", i+1)
		}
	}
	for c := range s {
		if shared := next[c] == s[c]; shared != (c == 0 || c == 2) {
			t.Errorf("chunk %d shared: %v", c, shared)
		}
	}
}

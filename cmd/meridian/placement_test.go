package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/dns"
	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
	"github.com/meridian-gtm/meridian/xds"
)

// TestOnePlacementForEveryPath places the same clients through every
// path that serves them: a DNS client by its subnet (the DNS handler's
// answer, and explain), an xDS node by its locality (the endpoints xDS
// builds for its group, and explain). Each path must send the client to
// the cluster model.Plan.Place chose, so that DNS, xDS and explain never
// drift apart.
//
// It runs on the demo, and on the demo with the operator's geography: a
// bias that grows eu-west's catchment across the Atlantic, and a subnet
// list that sends a UK network to ap-southeast first, and a map on the
// service: Germany and France to us-east, a fence for the rest of the EU.
func TestOnePlacementForEveryPath(t *testing.T) {
	demo, err := os.ReadFile("../../deploy/demo/meridian.conf")
	if err != nil {
		t.Fatal(err)
	}
	nets := filepath.Join(t.TempDir(), "nets.txt")
	if err := os.WriteFile(nets, []byte("81.2.69.0/24 ap-southeast us-east\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	geography := strings.Replace(string(demo), "    geoip builtin\n", "    geoip builtin\n    subnets "+nets+"\n", 1)
	geography = strings.Replace(geography, "    location 53.35 -6.26            # Dublin\n", "    location 53.35 -6.26\n    bias 90\n", 1)
	geography = strings.Replace(geography, "        policy geo\n", "        policy geo\n        map {\n            country DE FR -> us-east eu-west\n            fence continent EU -> eu-west\n        }\n", 1)
	if !strings.Contains(geography, "bias 90") || !strings.Contains(geography, "subnets ") || !strings.Contains(geography, "fence continent") {
		t.Fatal("the demo config changed: update the edits of this test")
	}
	for _, tc := range []struct{ name, conf string }{{"demo", string(demo)}, {"geography", geography}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("../../deploy/demo/meridian.conf", []byte(tc.conf))
			if err != nil {
				t.Fatal(err)
			}
			placeEverywhere(t, cfg, tc.name == "geography")
		})
	}
}

func placeEverywhere(t *testing.T, cfg *config.Config, geography bool) {
	zones, err := dns.LoadZones(dnsZones(cfg.Zones), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, statics, _ := discoveryInputs(cfg)
	plan := weights.Solve(time.Now(), config.StaticInventory(statics), model.Health{}, model.Overrides{}, cfg.Policies())
	db, err := geo.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	handler := dns.NewHandler(zones, db, dns.Options{}, nil)
	handler.Publish(plan)
	const app = "app.gslb.example.com"
	svc, _ := plan.Service(app)
	clusterOf := map[netip.Addr]string{}
	for i, tg := range svc.Targets {
		clusterOf[tg.Address] = svc.ClusterOf(i)
	}
	// explained is the clusters explain sends a client to, sorted (app is
	// routed by distance: one cluster takes everything, but clients of
	// unknown location are spread over all).
	explained := func(c model.Client) []string {
		e, ok := plan.Explain(app, c)
		if !ok {
			t.Fatalf("no explanation of %s", app)
		}
		var in []string
		for _, tg := range e.Targets {
			if tg.Share > 0 && !slices.Contains(in, tg.Cluster) {
				in = append(in, tg.Cluster)
			}
		}
		slices.Sort(in)
		return in
	}

	// The clients, and where the geography sends them (the demo sends
	// each to its nearest cluster: eu-west, us-east, ap-southeast).
	geoWant := map[string]string{
		"81.2.69.0/24":  "ap-southeast", // the subnet list's first cluster
		"81.2.70.0/24":  "eu-west",      // next door: the EU fence (eu-west is nearest too)
		"8.8.8.0/24":    "eu-west",      // eu-west's bias 90 reaches across the Atlantic
		"80.128.0.0/24": "us-east",      // Germany's map entry
		"79.0.0.0/24":   "eu-west",      // Italy: the EU fence
	}
	for _, subnet := range []string{"81.2.69.0/24", "81.2.70.0/24", "8.8.8.0/24", "13.250.0.0/24", "203.0.113.0/24", "10.1.2.0/24", "80.128.0.0/24", "79.0.0.0/24"} {
		prefix := netip.MustParsePrefix(subnet)
		loc := db.Lookup(prefix.Addr())
		client := model.Client{Addr: prefix.Addr(), Location: loc.At, Country: loc.Country, Continent: loc.Continent}
		pl := plan.Place(client)
		want := "(unknown location)"
		switch e := svc.Entry(pl); {
		case e >= 0:
			want = svc.Policy.Map[e].Clusters[0]
		case pl.Bucket < len(plan.Sites):
			want = plan.Sites[pl.Bucket].Cluster
		case pl.Net >= 0:
			want = plan.Nets[pl.Net].Clusters[0]
		}
		got := answerCluster(t, handler, prefix, clusterOf)
		if in := explained(client); !slices.Contains(in, got) {
			t.Errorf("client %s: DNS answers from %s, explain says %v", subnet, got, in)
		}
		if want != "(unknown location)" && got != want {
			t.Errorf("client %s: DNS answers from %s, Place chose %s", subnet, got, want)
		}
		if w, ok := geoWant[subnet]; geography && ok && got != w {
			t.Errorf("client %s: answered from %s, want %s with the geography", subnet, got, w)
		}
		if e, _ := plan.Explain(app, client); (pl.Net >= 0) != strings.Contains(e.Summary, "subnet list entry "+subnet) ||
			(svc.Entry(pl) >= 0) != strings.Contains(e.Entry, "map entry ") {
			t.Errorf("client %s: placed %+v, explain says %q (%s)", subnet, pl, e.Summary, e.Entry)
		}
		t.Logf("client %s: placed at %s, answered from %s", subnet, want, got)
	}

	for _, node := range []model.Locality{{Region: "eu-west", Zone: "eu-west-1a"}, {Region: "us-east"}, {Region: "ap-southeast", Zone: "elsewhere"}, {Region: "mars"}, {}} {
		res, err := xds.Build(plan, xds.Group{Role: xds.Gateway, Region: node.Region, Zone: node.Zone}, xds.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var first []string // the clusters at priority 0 of app's endpoints
		for _, cla := range res.Endpoints {
			if cla.GetClusterName() != xds.EndpointsName(xds.Group{Role: xds.Gateway, Region: node.Region, Zone: node.Zone}, app) {
				continue
			}
			for _, l := range cla.GetEndpoints() {
				if l.GetPriority() == 0 {
					first = append(first, l.GetLocality().GetSubZone())
				}
			}
		}
		slices.Sort(first)
		want := explained(model.Client{Node: true, Locality: node})
		if !slices.Equal(first, want) {
			t.Errorf("node in %+v: xDS puts %v at priority 0, explain says %v", node, first, want)
		}
		if place := plan.Place(model.Client{Node: true, Locality: node}).Bucket; place < len(plan.Sites) && !slices.Equal(want, []string{plan.Sites[place].Cluster}) {
			t.Errorf("node in %+v: Place chose %s, explain says %v", node, plan.Sites[place].Cluster, want)
		}
		t.Logf("node in %+v: priority 0 is %v", node, first)
	}
}

// answerCluster asks handler for app with an ECS option of prefix and
// returns the cluster of the address it answers.
func answerCluster(t *testing.T, h *dns.Handler, prefix netip.Prefix, clusterOf map[netip.Addr]string) string {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1, RecursionDesired: true})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("app.gslb.example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	b.StartAdditionals()
	var opt dnsmessage.ResourceHeader
	opt.SetEDNS0(1232, 0, false)
	a := prefix.Addr().As4()
	ecs := append([]byte{0, 1, byte(prefix.Bits()), 0}, a[:(prefix.Bits()+7)/8]...)
	b.OPTResource(opt, dnsmessage.OPTResource{Options: []dnsmessage.Option{{Code: 8, Data: ecs}}})
	req, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := h.Answer(req, make([]byte, 0, 4096), netip.MustParseAddr("127.0.0.1"), false)
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil || len(m.Answers) == 0 {
		t.Fatalf("answer for %s: %v, %d records", prefix, err, len(m.Answers))
	}
	r, ok := m.Answers[0].Body.(*dnsmessage.AResource)
	if !ok {
		t.Fatalf("answer for %s: %v", prefix, m.Answers[0])
	}
	return clusterOf[netip.AddrFrom4(r.A)]
}

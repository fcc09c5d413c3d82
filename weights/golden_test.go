package weights

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-gtm/meridian/model"
)

var update = flag.Bool("update", false, "rewrite testdata/out from the current code and delete stale files")

// The golden input: everything Solve takes, in YAML.
type goldenIn struct {
	// Spill is the spill mode of every policy that sets none; empty: the
	// default, capacity.
	Spill      string           `yaml:"spill"`
	At         time.Time        `yaml:"at"`
	StaleGrace time.Duration    `yaml:"stale_grace"`
	Clusters   []goldenCluster  `yaml:"clusters"`
	Backends   []goldenBackend  `yaml:"backends"`
	Health     []goldenHealth   `yaml:"health"`
	Overrides  []goldenOverride `yaml:"overrides"`
	Policies   []goldenPolicy   `yaml:"policies"`
	Subnets    []goldenSubnet   `yaml:"subnets"`
}

// goldenSubnet is one subnet-list entry.
type goldenSubnet struct {
	CIDR     string   `yaml:"cidr"`
	Clusters []string `yaml:"clusters"`
}

type goldenCluster struct {
	Name     string    `yaml:"name"`
	Region   string    `yaml:"region"`
	Zone     string    `yaml:"zone"`
	Location []float64 `yaml:"location"`
	LostAt   time.Time `yaml:"lost_at"`
	Bias     int       `yaml:"bias"`
}

type goldenBackend struct {
	Service string   `yaml:"service"`
	Cluster string   `yaml:"cluster"`
	Ingress []string `yaml:"ingress"`
	Pods    int      `yaml:"pods"`
	// NotReady counts the pods that are not ready (nor terminating).
	NotReady int `yaml:"not_ready"`
	// Zones, when given, hold per zone the ready pods and which of the
	// ingress addresses stand in it.
	Zones map[string]goldenZone `yaml:"zones"`
}

type goldenZone struct {
	Pods    int      `yaml:"pods"`
	Ingress []string `yaml:"ingress"`
}

type goldenHealth struct {
	Service string `yaml:"service"`
	Cluster string `yaml:"cluster"`
	Address string `yaml:"address"`
	State   string `yaml:"state"`
}

type goldenOverride struct {
	Kind    string    `yaml:"kind"`
	Service string    `yaml:"service"`
	Cluster string    `yaml:"cluster"`
	Address string    `yaml:"address"`
	Weight  uint32    `yaml:"weight"`
	Order   []string  `yaml:"order"`
	Reason  string    `yaml:"reason"`
	Author  string    `yaml:"author"`
	Created time.Time `yaml:"created"`
	Expires time.Time `yaml:"expires"`
}

type goldenPolicy struct {
	Service          string            `yaml:"service"`
	Policy           string            `yaml:"policy"`
	Order            []string          `yaml:"order"`
	Weights          map[string]uint32 `yaml:"weights"`
	Overprovisioning *uint32           `yaml:"overprovisioning"`
	PanicThreshold   *uint32           `yaml:"panic_threshold"`
	FailClosed       bool              `yaml:"fail_closed"`
	Spill            string            `yaml:"spill"`
	Map              []goldenMapEntry  `yaml:"map"`
}

// goldenMapEntry is one entry of a service's map: match is subnet,
// country, continent or default; values its prefixes or codes.
type goldenMapEntry struct {
	Match    string   `yaml:"match"`
	Values   []string `yaml:"values"`
	Clusters []string `yaml:"clusters"`
	Fence    bool     `yaml:"fence"`
}

// inputs converts the golden input to Solve's arguments.
func (g *goldenIn) inputs(t *testing.T) (time.Time, model.Inventory, model.Health, model.Overrides, model.Policies) {
	t.Helper()
	addr := func(s string) netip.Addr {
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("address %q: %v", s, err)
		}
		return a
	}
	var cs []model.Cluster
	for _, c := range g.Clusters {
		mc := model.Cluster{Name: c.Name, Locality: model.Locality{Region: c.Region, Zone: c.Zone}, LostAt: c.LostAt}
		if len(c.Location) == 2 {
			mc.Location = model.LocationAt(model.Point{Lat: c.Location[0], Lon: c.Location[1]})
		}
		cs = append(cs, mc)
	}
	var bs []model.Backend
	for _, b := range g.Backends {
		mb := model.Backend{Service: b.Service, Cluster: b.Cluster, ReadyPods: b.Pods, NotReadyPods: b.NotReady}
		for _, a := range b.Ingress {
			mb.Ingress = append(mb.Ingress, addr(a))
		}
		for z, zone := range b.Zones {
			mb.ZonePods = append(mb.ZonePods, model.ZonePods{Zone: z, ReadyPods: zone.Pods})
			for _, a := range zone.Ingress {
				mb.IngressZones = append(mb.IngressZones, model.AddrZone{Addr: addr(a), Zone: z})
			}
		}
		bs = append(bs, mb)
	}
	var hs []model.TargetHealth
	for _, h := range g.Health {
		st := map[string]model.State{"up": model.Up, "down": model.Down, "unknown": model.Unknown}[h.State]
		hs = append(hs, model.TargetHealth{Service: h.Service, Cluster: h.Cluster, Address: addr(h.Address), State: st})
	}
	var os []model.Override
	kinds := map[string]model.OverrideKind{"drain": model.Drain, "disable": model.Disable, "enable": model.Enable,
		"weight": model.Weight, "failover": model.ForceFailover}
	for _, o := range g.Overrides {
		k, ok := kinds[o.Kind]
		if !ok {
			t.Fatalf("override kind %q", o.Kind)
		}
		mo := model.Override{Kind: k, Service: o.Service, Cluster: o.Cluster, Weight: o.Weight, Order: o.Order,
			Reason: o.Reason, Author: o.Author, Created: o.Created, Expires: o.Expires}
		if o.Address != "" {
			mo.Address = addr(o.Address)
		}
		os = append(os, mo)
	}
	var ps []model.ServicePolicy
	for _, p := range g.Policies {
		mp := model.DefaultPolicy(p.Service, model.PolicyKind(p.Policy))
		mp.Order, mp.FailClosed = p.Order, p.FailClosed
		if spill := cmp.Or(p.Spill, g.Spill); spill != "" {
			mp.Spill = model.SpillMode(spill)
			if !slices.Contains(model.SpillModes(), mp.Spill) {
				t.Fatalf("spill %q", spill)
			}
		}
		if p.Overprovisioning != nil {
			mp.Overprovisioning = *p.Overprovisioning
		}
		if p.PanicThreshold != nil {
			mp.PanicThreshold = *p.PanicThreshold
		}
		for _, e := range p.Map {
			m := model.MapEntry{Clusters: e.Clusters, Fence: e.Fence}
			switch e.Match {
			case "subnet":
				m.Match = model.MatchSubnet
				for _, v := range e.Values {
					m.Subnets = append(m.Subnets, netip.MustParsePrefix(v))
				}
			case "country", "continent":
				m.Match, m.Codes = model.MatchCountry, e.Values
				if e.Match == "continent" {
					m.Match = model.MatchContinent
				}
			case "default":
				m.Match = model.MatchDefault
			default:
				t.Fatalf("map match %q", e.Match)
			}
			mp.Map = append(mp.Map, m)
		}
		for _, c := range sortedKeys(p.Weights) {
			mp.Weights = append(mp.Weights, model.ClusterWeight{Cluster: c, Weight: p.Weights[c]})
		}
		ps = append(ps, mp)
	}
	grace := g.StaleGrace
	if grace == 0 {
		grace = model.DefaultStaleGrace
	}
	pol := model.NewPolicies(grace, ps)
	for _, c := range g.Clusters {
		if c.Bias != 0 {
			if pol.Bias == nil {
				pol.Bias = map[string]int{}
			}
			pol.Bias[c.Name] = c.Bias
		}
	}
	for i, n := range g.Subnets {
		pol.Nets = append(pol.Nets, model.Net{Prefix: netip.MustParsePrefix(n.CIDR), Clusters: n.Clusters, Source: fmt.Sprintf("subnets:%d", i+1)})
	}
	return g.At, model.NewInventory(cs, bs), model.NewHealth(hs), model.NewOverrides(os), pol
}

// The golden output: the plan as a human reads it.
type goldenOut struct {
	Services []goldenService `yaml:"services"`
}

type goldenService struct {
	Name    string        `yaml:"name"`
	Policy  string        `yaml:"policy"`
	Targets []string      `yaml:"targets"`
	Routes  []goldenRoute `yaml:"routes"`
}

type goldenRoute struct {
	Buckets    []string `yaml:"buckets,flow"`
	Summary    string   `yaml:"summary"`
	Priorities []string `yaml:"priorities,omitempty"`
	Shares     []string `yaml:"shares,omitempty"`
}

// render turns a plan into the golden output, merging buckets with equal routes.
func render(p *model.Plan) goldenOut {
	var out goldenOut
	for _, s := range p.Services {
		gs := goldenService{Name: s.Name, Policy: string(s.Policy.Kind)}
		for _, t := range s.Targets {
			line := fmt.Sprintf("%s %s weight %d %s", s.Groups[t.Group].Cluster, t.Address, t.Weight, t.Status)
			e, _ := p.ExplainBucket(s.Name, 0)
			for _, et := range e.Targets {
				if et.Cluster == s.Groups[t.Group].Cluster && et.Address == t.Address.String() && len(et.Reasons) > 0 {
					line += ": " + strings.Join(et.Reasons, "; ")
				}
			}
			gs.Targets = append(gs.Targets, line)
		}
		for b := range s.Routes {
			name := "unknown location"
			if b < len(p.Sites) {
				name = p.Sites[b].Cluster
			}
			if j := b - len(p.Sites) - 1; j >= 0 && j < len(p.NetLists) {
				name = "subnets to " + strings.Join(p.NetLists[j], " ")
			}
			if e := b - (len(s.Routes) - len(s.Policy.Map)); e >= 0 {
				name = s.Policy.Map[e].Describe()
			}
			e, _ := p.ExplainBucket(s.Name, b)
			gr := goldenRoute{Buckets: []string{name}, Summary: strings.TrimPrefix(e.Summary, summaryWho(e.Summary))}
			for i, pr := range e.Priorities {
				line := fmt.Sprintf("P%d %s: %d/%d healthy, health %d, load %d", i, pr.Tier, pr.Healthy, pr.Hosts, pr.Health, pr.Load)
				if pr.Panic {
					line += ", panic"
				}
				gr.Priorities = append(gr.Priorities, line)
			}
			for _, et := range e.Targets {
				if et.Share > 0 {
					gr.Shares = append(gr.Shares, fmt.Sprintf("%s %s %.4f", et.Cluster, et.Address, et.Share))
				}
			}
			if n := len(gs.Routes); n > 0 && sameRoute(gs.Routes[n-1], gr) {
				gs.Routes[n-1].Buckets = append(gs.Routes[n-1].Buckets, name)
				continue
			}
			gs.Routes = append(gs.Routes, gr)
		}
		out.Services = append(out.Services, gs)
	}
	return out
}

// summaryWho is the "clients nearest X: " prefix, which differs per bucket.
func summaryWho(s string) string {
	if i := strings.Index(s, ": "); i >= 0 {
		return s[:i+2]
	}
	return ""
}

func sameRoute(a, b goldenRoute) bool {
	return a.Summary == b.Summary && strings.Join(a.Priorities, "\n") == strings.Join(b.Priorities, "\n") &&
		strings.Join(a.Shares, "\n") == strings.Join(b.Shares, "\n")
}

func sortedKeys(m map[string]uint32) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	want := map[string]bool{}
	for _, in := range ins {
		name := filepath.Base(in)
		want[name] = true
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var g goldenIn
			dec := yaml.NewDecoder(bytes.NewReader(raw))
			dec.KnownFields(true)
			if err := dec.Decode(&g); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			p := Solve(g.inputs(t))
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(render(p)); err != nil {
				t.Fatal(err)
			}
			got := "# Generated by TestGolden from testdata/in/" + name + "; rewrite with go test -run TestGolden -update\n" + buf.String()
			outPath := filepath.Join("testdata", "out", name)
			if *update {
				if err := os.WriteFile(outPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantOut, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if got != string(wantOut) {
				t.Errorf("%s differs from the plan:\n%s", outPath, diffLines(string(wantOut), got))
			}
		})
	}
	outs, _ := filepath.Glob("testdata/out/*.yaml")
	for _, out := range outs {
		if want[filepath.Base(out)] {
			continue
		}
		if *update {
			os.Remove(out)
		} else {
			t.Errorf("%s has no input in testdata/in (run go test -run TestGolden -update to delete it)", out)
		}
	}
}

// diffLines shows the lines that differ, with their line numbers.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

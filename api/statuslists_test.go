package api

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// TestStatusPageNotServing: the page lists every target that does not
// serve, worst first, with its reason and since when, and the banner
// and the service's badge follow model's ServicePlan.State.
func TestStatusPageNotServing(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	downSince := now.Add(-2*time.Minute - 5*time.Second)
	health := model.NewHealth([]model.TargetHealth{
		{Service: svcName, Cluster: "us-east", Address: netip.MustParseAddr("198.51.100.10"), State: model.Down, Since: downSince, Reason: "connect: connection refused"},
		{Service: svcName, Cluster: "eu-west", Address: netip.MustParseAddr("192.0.2.10"), State: model.Up, Since: downSince},
	})
	var f *fixture
	f = newFixtureWith(t, func(cfg *V1Config) {
		cfg.Now = func() time.Time { return now }
		cfg.Health = func() model.Health { return health }
		cfg.Plan = func() *model.Plan {
			o := model.NewOverrides(append(f.configOverrides(), f.store.List()...))
			return weights.Solve(now, f.inv, health, o, f.pol)
		}
	})
	row := regexp.MustCompile(`<tr data-cluster="([^"]+)" data-address="[^"]+" data-state="([^"]+)">(.*)</tr>`)
	page := func() (rows [][]string, text string) {
		t.Helper()
		code, text := f.do("GET", "/", readToken, "", nil)
		if code != 200 {
			t.Fatalf("GET /: %d", code)
		}
		list := text[strings.Index(text, `<table id="not-serving"`):]
		list = list[:strings.Index(list, "</table>")]
		for _, m := range row.FindAllStringSubmatch(list, -1) {
			rows = append(rows, m[1:])
		}
		return rows, text
	}

	// us-east down, ap-southeast drained by the config: eu-west serves.
	rows, text := page()
	if len(rows) != 2 || [2][2]string{{rows[0][0], rows[0][1]}, {rows[1][0], rows[1][1]}} != [2][2]string{{"us-east", "down"}, {"ap-southeast", "drained"}} {
		t.Fatalf("not serving: %q", rows)
	}
	for _, want := range []string{"connect: connection refused", `<time datetime="2026-05-06T07:06:04Z" title="2026-05-06T07:06:04Z">2 min 5 s ago</time>`} {
		if !strings.Contains(rows[0][2], want) {
			t.Errorf("the down target's row %s lacks %s", rows[0][2], want)
		}
	}
	if !strings.Contains(rows[1][2], "in the config (override config.drain.ap-southeast by config)") {
		t.Errorf("the drained target's row %s lacks the override's reason", rows[1][2])
	}
	for _, want := range []string{`<div id="banner" class="warn" data-state="degraded">`, `data-service="app.gslb.example.com" data-state="degraded"`,
		`<g class="cluster" data-cluster="us-east" data-state="down">`, `<g class="cluster" data-cluster="ap-southeast" data-state="drained">`,
		`<tr data-cluster="eu-west" data-state="reachable">`} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %s", want)
		}
	}

	// eu-west's address disabled too: no healthy target, and the
	// service fails open to us-east.
	if code, text := f.do("PUT", "/api/v1/overrides/off-eu", adminToken, `{"kind":"disable","address":"192.0.2.10","reason":"bad NIC","for":"90m"}`, nil); code != 200 && code != 201 {
		t.Fatalf("PUT: %d %s", code, text)
	}
	rows, text = page()
	var states []string
	for _, r := range rows {
		states = append(states, r[0]+" "+r[1])
	}
	if want := []string{"us-east down", "eu-west disabled", "ap-southeast drained"}; !slices.Equal(states, want) {
		t.Errorf("not serving: %q, want %q", states, want)
	}
	for _, want := range []string{`<div id="banner" class="outage" data-state="failing_open" role="alert">Outage: no healthy target in the only service: app.gslb.example.com (failing open).</div>`,
		`<span class="badge failing_open">failing open</span>`, `bad NIC (override off-eu by alice, expires in 1h 30m)`,
		`<g class="cluster" data-cluster="eu-west" data-state="disabled">`} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s ago"}, {4 * time.Second, "4 s ago"}, {-4 * time.Second, "in 4 s"}, {59*time.Second + 600*time.Millisecond, "1 min ago"},
		{3*time.Minute + 12*time.Second, "3 min 12 s ago"}, {-(72 * time.Minute), "in 1h 12m"}, {50 * time.Hour, "2d 2h ago"},
	} {
		got := relTime(now.Add(-tc.d), now)
		if got.Rel != tc.want || got.Abs != now.Add(-tc.d).UTC().Format(time.RFC3339) {
			t.Errorf("%v: %+v, want %q", tc.d, got, tc.want)
		}
	}
	if got := relTime(time.Time{}, now); got != (statusTime{Rel: "-"}) {
		t.Errorf("zero time: %+v", got)
	}
}

// TestClusterColor: a cluster's colour depends on its name alone, and
// the demo's clusters, and the tests', get different ones.
func TestClusterColor(t *testing.T) {
	if clusterColor("eu-west") != "#c2410c" {
		t.Errorf("eu-west is %s: a cluster's colour must not change between versions without need", clusterColor("eu-west"))
	}
	for _, names := range [][]string{{"ap-southeast", "eu-west", "us-east"}, {"primary", "secondary"}} {
		seen := map[string]string{}
		for _, n := range names {
			if other, dup := seen[clusterColor(n)]; dup {
				t.Errorf("%s and %s have the same colour", n, other)
			}
			seen[clusterColor(n)] = n
		}
	}
}

// TestStatusClusterWords: a cluster's state says what its targets do,
// without contradicting itself.
func TestStatusClusterWords(t *testing.T) {
	targets := func(excluded, down, up int) *model.Plan {
		s := model.ServicePlan{Name: svcName, Groups: []model.Group{{Cluster: "eu-west", N: excluded + down + up}}}
		for range excluded {
			s.Targets = append(s.Targets, model.Target{Status: model.Excluded, Cause: model.CauseDrained})
		}
		for range down {
			s.Targets = append(s.Targets, model.Target{Status: model.Unhealthy})
		}
		for range up {
			s.Targets = append(s.Targets, model.Target{Status: model.Healthy})
		}
		return &model.Plan{Services: []*model.ServicePlan{&s}}
	}
	for _, tc := range []struct {
		excluded, down, up int
		want               string
	}{
		{0, 0, 3, "reachable"},
		{0, 3, 0, "reachable, every target down"},
		{0, 1, 2, "reachable, 1 of 3 targets down"},
		{3, 6, 0, "reachable, 3 of 9 targets drained or disabled, the other 6 down"},
		{3, 0, 0, "reachable, drained"},
	} {
		got := statusClusterOf(model.Cluster{Name: "eu-west"}, targets(tc.excluded, tc.down, tc.up), time.Now()).State
		if got != tc.want {
			t.Errorf("%d drained, %d down, %d up: %q, want %q", tc.excluded, tc.down, tc.up, got, tc.want)
		}
	}
}

// TestStatusMapLabelsInside: a cluster near the map's east edge has its
// label west of its dot, so that it is not cut off.
func TestStatusMapLabelsInside(t *testing.T) {
	for _, tc := range []struct {
		at     model.Point
		anchor string
	}{{model.Point{Lat: 53.35, Lon: -6.26}, "start"}, {model.Point{Lat: 35.68, Lon: 139.69}, "end"}, {model.Point{Lat: -33.87, Lon: 151.21}, "end"}} {
		sc := statusClusterOf(model.Cluster{Name: "ap-northeast-with-a-long-name", Location: model.LocationAt(tc.at)}, nil, time.Now())
		if sc.LabelAnchor != tc.anchor || (tc.anchor == "end") != (sc.LabelX < sc.X) {
			t.Errorf("a cluster at %v: label at x %d anchored %s, its dot at %d; want anchored %s", tc.at, sc.LabelX, sc.LabelAnchor, sc.X, tc.anchor)
		}
	}
}

package weights

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/health"
	"github.com/meridian-gtm/meridian/internal/testlog"
	"github.com/meridian-gtm/meridian/model"
)

const app = "app.gslb.example.com"

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// demo is the inventory of deploy/demo/meridian.conf.
func demo() model.Inventory {
	return model.NewInventory([]model.Cluster{
		{Name: "eu-west", Locality: model.Locality{Region: "eu-west", Zone: "eu-west-1a"}, Location: model.LocationAt(model.Point{Lat: 53.35, Lon: -6.26})},
		{Name: "us-east", Locality: model.Locality{Region: "us-east", Zone: "us-east-1a"}, Location: model.LocationAt(model.Point{Lat: 39.04, Lon: -77.49})},
		{Name: "ap-southeast", Locality: model.Locality{Region: "ap-southeast"}, Location: model.LocationAt(model.Point{Lat: 1.29, Lon: 103.85})},
	}, []model.Backend{
		{Service: app, Cluster: "eu-west", Ingress: addrs("192.0.2.10", "192.0.2.11"), ReadyPods: 6},
		{Service: app, Cluster: "us-east", Ingress: addrs("198.51.100.10", "198.51.100.11", "198.51.100.12"), ReadyPods: 9},
		{Service: app, Cluster: "ap-southeast", Ingress: addrs("203.0.113.10", "203.0.113.11"), ReadyPods: 4},
	})
}

func geoPolicy() model.Policies {
	return model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{model.DefaultPolicy(app, model.Geo)})
}

// startLoop runs a loop until the test ends.
func startLoop(t *testing.T, l *Loop) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// recv waits for the next plan an observer got.
func recv(t *testing.T, ch <-chan *model.Plan) *model.Plan {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no plan published")
		return nil
	}
}

// clusterFor says which cluster clients nearest site get.
func clusterFor(p *model.Plan, site string) string {
	s, _ := p.Service(app)
	for i, st := range p.Sites {
		if st.Cluster == site {
			if r := s.Route(i); len(r.Shares) > 0 {
				return s.ClusterOf(r.Shares[0].Target)
			}
		}
	}
	return ""
}

func TestLoopPublishesOnlyNewPlans(t *testing.T) {
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond, MaxDelay: 5 * time.Millisecond}, geoPolicy())
	got := make(chan *model.Plan, 10)
	l.Subscribe(func(p *model.Plan) { got <- p })
	startLoop(t, l)

	l.SetHealth(model.Health{}) // no inventory yet: nothing to publish
	l.SetInventory(demo())
	p1 := recv(t, got)
	if want := Solve(p1.At, demo(), model.Health{}, model.Overrides{}, geoPolicy()); p1.Version != want.Version {
		t.Errorf("published plan differs from Solve's")
	}
	if l.Plan() != p1 {
		t.Errorf("Plan() is not the published plan")
	}

	l.SetInventory(demo()) // same content: no new plan
	inv := demo()
	l.SetInventory(inv.WithBackends(app, append(inv.BackendsOf(app)[1:], model.Backend{Cluster: "ap-southeast"})))
	p2 := recv(t, got)
	if p2.Version == p1.Version {
		t.Fatalf("changed inventory published the same version")
	}
	select {
	case p := <-got:
		t.Errorf("unexpected extra plan %x", p.Version)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestLoopWakesWhenAnOverrideExpires(t *testing.T) {
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond}, geoPolicy())
	got := make(chan *model.Plan, 10)
	l.Subscribe(func(p *model.Plan) { got <- p })
	startLoop(t, l)
	l.SetOverrides(model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "eu-west", Expires: time.Now().Add(300 * time.Millisecond)}}))
	l.SetInventory(demo())
	if p := recv(t, got); clusterFor(p, "eu-west") != "us-east" {
		t.Fatalf("drained eu-west clients go to %s, want us-east", clusterFor(p, "eu-west"))
	}
	if p := recv(t, got); clusterFor(p, "eu-west") != "eu-west" {
		t.Errorf("after expiry eu-west clients go to %s, want eu-west", clusterFor(p, "eu-west"))
	}
}

func TestLoopWakesWhenGraceEnds(t *testing.T) {
	pol := model.NewPolicies(200*time.Millisecond, []model.ServicePolicy{model.DefaultPolicy(app, model.Geo)})
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond}, pol)
	got := make(chan *model.Plan, 10)
	l.Subscribe(func(p *model.Plan) { got <- p })
	startLoop(t, l)
	// eu-west is lost with no ready pods: within the grace period that
	// stands; after it, its targets count as unknown and serve again.
	inv := demo()
	cs := inv.Clusters()      // a copy: writing it leaves inv as it was
	cs[1].LostAt = time.Now() // clusters sort: ap-southeast, eu-west, us-east
	bs := inv.BackendsOf(app)
	bs = append([]model.Backend{bs[0], {Cluster: "eu-west", Ingress: bs[1].Ingress, ReadyPods: 0}}, bs[2:]...)
	l.SetInventory(inv.WithClusters(cs).WithBackends(app, bs))
	if p := recv(t, got); clusterFor(p, "eu-west") != "us-east" {
		t.Fatalf("lost eu-west without pods: clients go to %s, want us-east", clusterFor(p, "eu-west"))
	}
	if p := recv(t, got); clusterFor(p, "eu-west") != "eu-west" {
		t.Errorf("after the grace period eu-west clients go to %s, want eu-west", clusterFor(p, "eu-west"))
	}
}

func TestLoopSlowObserverDoesNotBlockOthers(t *testing.T) {
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond, MaxDelay: 2 * time.Millisecond}, geoPolicy())
	release := make(chan struct{})
	var once sync.Once
	l.Subscribe(func(*model.Plan) { <-release })
	fast := make(chan *model.Plan, 100)
	l.Subscribe(func(p *model.Plan) { fast <- p })
	startLoop(t, l)
	t.Cleanup(func() { once.Do(func() { close(release) }) })

	inv := demo()
	for pods := 1; pods <= 5; pods++ {
		bs := append([]model.Backend{}, inv.BackendsOf(app)...)
		bs[0].ReadyPods = pods
		next := inv.WithBackends(app, bs)
		l.SetInventory(next)
		for p := recv(t, fast); ; p = recv(t, fast) {
			if s, _ := p.Service(app); s.Groups[0].ReadyPods == pods {
				break
			}
		}
	}
	once.Do(func() { close(release) })
}

// solvedNoOverrides waits until the loop has solved every input given so
// far: the positive signal that a check of what it did not publish comes
// after the Solve, not before it. It sets the overrides to none (the
// tests that use it have none), as ApplyOverrides is the loop's one way
// to wait for a Solve, published or not.
func solvedNoOverrides(t *testing.T, l *Loop) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := l.ApplyOverrides(ctx, model.Overrides{}); err != nil {
		t.Fatalf("the loop did not solve its inputs: %v", err)
	}
}

func TestNewPlanOnlyAfterInventory(t *testing.T) {
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond}, geoPolicy())
	startLoop(t, l)
	l.SetHealth(model.Health{})
	solvedNoOverrides(t, l)
	if l.Plan() != nil {
		t.Error("a plan was published before any inventory")
	}
}

// TestApplyOverridesWaitsForThePlan checks that ApplyOverrides returns only
// once the published Plan follows the overrides, even with a long hold-off.
func TestApplyOverridesWaitsForThePlan(t *testing.T) {
	l := NewLoop(LoopConfig{HoldOff: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond}, geoPolicy())
	startLoop(t, l)
	l.SetInventory(demo())
	if err := l.ApplyOverrides(context.Background(), model.Overrides{}); err != nil {
		t.Fatal(err)
	}
	if got := clusterFor(l.Plan(), "eu-west"); got != "eu-west" {
		t.Fatalf("before the drain eu-west clients go to %q", got)
	}
	drain := model.NewOverrides([]model.Override{{ID: "d", Kind: model.Drain, Cluster: "eu-west", Reason: "test"}})
	if err := l.ApplyOverrides(context.Background(), drain); err != nil {
		t.Fatal(err)
	}
	if got := clusterFor(l.Plan(), "eu-west"); got != "us-east" {
		t.Errorf("when ApplyOverrides returned eu-west clients went to %q, want us-east", got)
	}
	// The same overrides again publish nothing new, and still return.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.ApplyOverrides(ctx, drain); err != nil {
		t.Errorf("applying unchanged overrides: %v", err)
	}
}

// TestReadinessChangeMakesOnePlan wires a Loop and a health.Checker as
// serve does and scales eu-west to zero ready pods, as one EndpointSlice
// change does: exactly one Plan follows, whichever of the two sees the
// Inventory first. Readiness is the engine's; the Checker publishes probe
// verdicts only, so it has nothing new to say.
func TestReadinessChangeMakesOnePlan(t *testing.T) {
	l, checker, plans, healths, published, barrier := loopWithChecker(t, geoPolicy())
	waitHealth := func(service string) {
		t.Helper()
		for {
			select {
			case h := <-healths:
				if len(h.Of(service)) > 0 {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no Health with %s", service)
			}
		}
	}

	inv := demo()
	l.SetInventory(inv)
	checker.SetInventory(inv)
	waitHealth(app)
	barrier()
	for p := recv(t, plans); p != l.Plan(); p = recv(t, plans) {
	}
	before := published()

	// The loop solves first; the Checker sees the Inventory later, then
	// one with another service, which proves it has read the first.
	bs := slices.Clone(inv.BackendsOf(app))
	for i := range bs {
		if bs[i].Cluster == "eu-west" {
			bs[i].ReadyPods = 0
		}
	}
	zero := inv.WithBackends(app, bs)
	l.SetInventory(zero)
	p := recv(t, plans)
	s, _ := p.Service(app)
	for i, tg := range s.Targets {
		if s.ClusterOf(i) == "eu-west" && (tg.Health != model.Down || tg.Status != model.Unhealthy || tg.Cause != model.CauseNoPods) {
			t.Errorf("eu-west target without ready pods: health %v, status %v, cause %v; want down, unhealthy, no pods", tg.Health, tg.Status, tg.Cause)
		}
	}
	other := zero.WithBackends("other.example.org", []model.Backend{{Service: "other.example.org", Cluster: "eu-west", Ingress: addrs("192.0.2.99"), ReadyPods: 1}})
	checker.SetInventory(zero)
	checker.SetInventory(other)
	l.SetInventory(other)
	waitHealth("other.example.org")
	barrier()
	if n := published() - before; n != 1 {
		t.Errorf("scaling eu-west to zero made %d Plans, want 1", n)
	}
}

// TestNewUnprobedTargetMakesOnePlan: a new target of a service without a
// health check is up in the first Plan the engine makes for it, from the
// policy (model.ServicePolicy.Unprobed), so that the health checker's
// "not probed" verdict, coming later, changes nothing and makes no second
// Plan, however long after the loop's hold-off it comes.
func TestNewUnprobedTargetMakesOnePlan(t *testing.T) {
	unprobed := model.DefaultPolicy(app, model.Geo)
	unprobed.Unprobed = true
	// No checks are given to the checker: app is not probed.
	l, checker, plans, healths, published, barrier := loopWithChecker(t, model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{unprobed}))
	// waitVerdict waits for the Checker's verdict on addr, handed to the
	// loop before it is sent here.
	waitVerdict := func(addr netip.Addr) model.TargetHealth {
		t.Helper()
		for {
			select {
			case h := <-healths:
				for _, v := range h.Of(app) {
					if v.Address == addr {
						return v
					}
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no verdict on %v", addr)
			}
		}
	}

	inv := demo()
	l.SetInventory(inv)
	checker.SetInventory(inv)
	waitVerdict(inv.BackendsOf(app)[0].Ingress[0])
	barrier()
	for p := recv(t, plans); p != l.Plan(); p = recv(t, plans) {
	}
	before := published()

	// The loop sees the new target first and plans; the Checker's verdict
	// on it comes after that Plan, outside any hold-off.
	added := netip.MustParseAddr("192.0.2.12")
	bs := slices.Clone(inv.BackendsOf(app))
	for i := range bs {
		if bs[i].Cluster == "eu-west" {
			bs[i].Ingress = append(slices.Clone(bs[i].Ingress), added)
		}
	}
	grown := inv.WithBackends(app, bs)
	l.SetInventory(grown)
	p := recv(t, plans)
	s, _ := p.Service(app)
	found := false
	for _, tg := range s.Targets {
		if tg.Address == added {
			found = true
			if tg.Health != model.Up || tg.Status != model.Healthy {
				t.Errorf("new unprobed target in its first Plan: health %v, status %v; want up, healthy", tg.Health, tg.Status)
			}
		}
	}
	if !found {
		t.Fatalf("the first Plan after the new target lacks it")
	}
	checker.SetInventory(grown)
	if v := waitVerdict(added); !v.Unprobed || v.State != model.Up {
		t.Fatalf("the Checker's verdict on the new target is %+v, want up and unprobed", v)
	}
	barrier() // the loop has solved with that verdict
	if n := published() - before; n != 1 {
		t.Errorf("a new target of an unprobed service made %d Plans, want 1", n)
	}
}

// loopWithChecker runs a loop with a short hold-off on policies, and a
// health checker that publishes to it. It returns what the tests of one
// decision per change watch: the Plans handed on, the Health the checker
// published (after the loop had it), the count of Plans published so far
// (from the loop's log, written before the hand-off), and a barrier that
// returns once the loop has handled everything sent to it before.
func loopWithChecker(t *testing.T, policies model.Policies) (*Loop, *health.Checker, chan *model.Plan, chan model.Health, func() int, func()) {
	var log testlog.Buffer
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond, MaxDelay: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&log, nil))}, policies)
	plans := make(chan *model.Plan, 100)
	l.Subscribe(func(p *model.Plan) { plans <- p })
	published := func() int { return strings.Count(log.String(), "msg=\"plan published\"") }
	healths := make(chan model.Health, 100)
	checker := health.New(health.Config{Publish: func(h model.Health) {
		l.SetHealth(h)
		healths <- h
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { checker.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	startLoop(t, l)
	barrier := func() {
		t.Helper()
		if err := l.ApplyOverrides(context.Background(), model.Overrides{}); err != nil {
			t.Fatal(err)
		}
	}
	return l, checker, plans, healths, published, barrier
}

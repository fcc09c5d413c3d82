package weights

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

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

func TestLoopPublishesOnlyNewPlans(t *testing.T) {
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond, MaxDelay: 5 * time.Millisecond}, geoPolicy())
	got := make(chan *model.Plan, 10)
	l.Subscribe(func(p *model.Plan) { got <- p })
	startLoop(t, l)

	l.SetHealth(model.Health{}) // no inventory yet: nothing to publish
	l.SetInventory(demo())
	p1 := recv(t, got)
	if p1.Version != Solve(demo(), model.Health{}, model.Overrides{}, geoPolicy()).Version {
		t.Errorf("published plan differs from Solve's")
	}
	if l.Plan() != p1 {
		t.Errorf("Plan() is not the published plan")
	}

	l.SetInventory(demo()) // same content: no new plan
	inv := demo()
	bs := inv.Backends()
	bs[0].ReadyPods = 0
	l.SetInventory(model.NewInventory(inv.Clusters(), bs))
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

func TestLoopOverrideExpires(t *testing.T) {
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond}, geoPolicy())
	got := make(chan *model.Plan, 10)
	l.Subscribe(func(p *model.Plan) { got <- p })
	startLoop(t, l)
	l.SetInventory(demo())
	l.SetOverrides([]model.Override{{Kind: model.Drain, Cluster: "eu-west", Expires: time.Now().Add(300 * time.Millisecond)}})
	eu := func(p *model.Plan) string {
		s, _ := p.Service(app)
		return s.Targets[s.Route(bucketOf(p, "eu-west")).Shares[0].Target].Cluster
	}
	// The first plan may predate the override; wait for the drained one.
	p := recv(t, got)
	if eu(p) != "us-east" {
		p = recv(t, got)
	}
	if eu(p) != "us-east" {
		t.Fatalf("drained eu-west clients go to %s, want us-east", eu(p))
	}
	if p = recv(t, got); eu(p) != "eu-west" {
		t.Errorf("after expiry eu-west clients go to %s, want eu-west", eu(p))
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
		bs := inv.Backends()
		bs[0].ReadyPods = pods
		l.SetInventory(model.NewInventory(inv.Clusters(), bs))
		want := Solve(model.NewInventory(inv.Clusters(), bs), model.Health{}, model.Overrides{}, geoPolicy()).Version
		for p := recv(t, fast); p.Version != want; p = recv(t, fast) {
		}
	}
	once.Do(func() { close(release) })
}

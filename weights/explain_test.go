package weights

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

func TestExplain(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ovr := model.NewOverrides([]model.Override{{
		Kind: model.Drain, Cluster: "eu-west", Author: "alice", Reason: "maintenance",
		Created: at.Add(-time.Hour), Expires: time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC),
	}})
	p := Solve(at, demo(), model.Health{}, ovr, geoPolicy())
	london := model.Point{Lat: 51.5, Lon: -0.13}
	e, ok := p.Explain(app, model.Client{Location: model.LocationAt(london)})
	if !ok {
		t.Fatal("no explanation for app")
	}
	if e.Site != "eu-west" || e.Policy != model.Geo || e.Mode != model.Normal {
		t.Errorf("site %q policy %q mode %v", e.Site, e.Policy, e.Mode)
	}
	wantSummary := "clients nearest eu-west: 100% to priority 0 (us-east, 5462 km)"
	if e.Summary != wantSummary {
		t.Errorf("summary = %q, want %q", e.Summary, wantSummary)
	}
	// Ranked: the three us-east targets with a third each, then the rest.
	for i, et := range e.Targets[:3] {
		if et.Cluster != "us-east" || et.Priority != 0 || et.Status != "healthy" || et.Share < 0.333 || et.Share > 0.334 {
			t.Errorf("target %d = %+v, want us-east with a third", i, et)
		}
	}
	var drained []model.ExplainedTarget
	for _, et := range e.Targets {
		if et.Cluster == "eu-west" {
			drained = append(drained, et)
		}
	}
	wantReason := "drain of eu-west by alice until 2026-11-25T14:00:00Z: maintenance"
	if len(drained) != 2 || drained[0].Share != 0 || drained[0].Status != "excluded" || !slices.Equal(drained[0].Reasons, []string{wantReason}) {
		t.Errorf("eu-west targets = %+v, want excluded with reason %q", drained, wantReason)
	}
	if len(e.Priorities) != 2 || !strings.HasPrefix(e.Priorities[1].Tier, "ap-southeast") {
		t.Errorf("priorities = %+v, want us-east then ap-southeast", e.Priorities)
	}

	// A client whose location is unknown, and a service that does not exist.
	if e, _ := p.Explain(app, model.Client{}); e.Site != "" || !strings.HasPrefix(e.Summary, "clients of unknown location: 100% to priority 0 (all clusters)") {
		t.Errorf("unknown location: %+v", e)
	}
	if _, ok := p.Explain("nope.example.com", model.Client{Location: model.LocationAt(london)}); ok {
		t.Error("explained a service that does not exist")
	}
}

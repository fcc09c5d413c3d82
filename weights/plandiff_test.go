package weights

import (
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// TestPlanChangesMatchRoutesByClients: model.PlanChanges matches routes by
// the clients they serve, so a new site reports the new site's route (and
// the routes whose shares it took), not every route shifted by one index;
// a service that leaves reports its shares going to 0 with the old Plan's
// reasons.
func TestPlanChangesMatchRoutesByClients(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	before := Solve(now, demo(), model.Health{}, model.Overrides{}, geoPolicy())
	if got := model.PlanChanges(before, before); len(got) != 0 {
		t.Errorf("a Plan compared with itself changes %+v", got)
	}

	inv := demo()
	clusters := append(inv.Clusters(), model.Cluster{Name: "eu-central", Locality: model.Locality{Region: "eu-central"},
		Location: model.LocationAt(model.Point{Lat: 50.11, Lon: 8.68})}) // Frankfurt: sorts before eu-west
	grown := model.NewInventory(clusters, append(inv.BackendsOf(app), model.Backend{Service: app, Cluster: "eu-central",
		Ingress: addrs("192.0.2.50"), ReadyPods: 2}))
	after := Solve(now, grown, model.Health{}, model.Overrides{}, geoPolicy())
	changes := model.PlanChanges(before, after)
	var clients []string
	for _, c := range changes {
		clients = append(clients, c.Clients)
	}
	// eu-central's clients are new, and clients of unknown location now
	// share with eu-central; the others keep their nearest cluster,
	// whatever index their route now has.
	if len(changes) != 2 || changes[0].Clients != "clients nearest eu-central" || changes[1].Clients != "clients of unknown location" {
		t.Fatalf("changes for %q, want clients nearest eu-central and of unknown location: %+v", clients, changes)
	}
	c := changes[0]
	if c.Before != model.NoTargets || c.After != model.Normal || len(c.Moves) != 1 || c.Moves[0].Cluster != "eu-central" ||
		c.Moves[0].Before != 0 || c.Moves[0].After != 1 || !strings.HasPrefix(c.Summary, "clients nearest eu-central: 100% to priority 0") {
		t.Errorf("eu-central's change: %+v", c)
	}

	// The service goes: every route's shares go to 0, explained by the old Plan.
	gone := Solve(now, demo(), model.Health{}, model.Overrides{}, model.NewPolicies(model.DefaultStaleGrace, nil))
	changes = model.PlanChanges(before, gone)
	if len(changes) != before.Buckets() {
		t.Fatalf("%d changes for a removed service, want one per route (%d)", len(changes), before.Buckets())
	}
	for _, c := range changes {
		if c.After != model.NoTargets || len(c.Moves) == 0 || c.Moves[0].After != 0 || len(c.Moves[0].Reasons) == 0 ||
			!strings.HasPrefix(c.Summary, c.Clients+": 100%") {
			t.Errorf("removed service's change: %+v", c)
		}
	}
}

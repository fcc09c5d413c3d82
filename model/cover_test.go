package model

import (
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/fieldcover"
)

// sampleOverride sets every field of an Override.
func sampleOverride() Override {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return Override{ID: "o1", Kind: Weight, Service: "app.gslb.example.com", Cluster: "eu-west", Address: netip.MustParseAddr("192.0.2.1"),
		Weight: 5, Order: []string{"eu-west"}, Reason: "test", Author: "ops", Created: at, Expires: at.Add(time.Hour)}
}

// TestOverrideEqualSeesEveryField: a field added to Override and left out
// of Equal would make the engine keep a stale Plan (weights compares the
// active overrides with it).
func TestOverrideEqualSeesEveryField(t *testing.T) {
	fieldcover.Check(t, sampleOverride(), fieldcover.Options{}, func(a, b Override) bool { return !a.Equal(b) })
}

// TestInventoryListsAreCopies: writing what the accessors return leaves the
// Inventory, and the identity the engine caches by, as they were.
func TestInventoryListsAreCopies(t *testing.T) {
	const svc = "app.gslb.example.com"
	inv := NewInventory([]Cluster{{Name: "a"}, {Name: "b"}},
		[]Backend{{Service: svc, Cluster: "a", ReadyPods: 1}, {Service: svc, Cluster: "b", ReadyPods: 2}})
	cid, bid := inv.ClustersID(), inv.BackendsID(svc)
	inv.Clusters()[0].Name = "changed"
	inv.BackendsOf(svc)[0].ReadyPods = 99
	inv.Backends()[1].ReadyPods = 99
	if c := inv.Clusters()[0]; c.Name != "a" {
		t.Errorf("Clusters()[0] = %q after a write to a returned copy, want a", c.Name)
	}
	if b := inv.BackendsOf(svc); b[0].ReadyPods != 1 || b[1].ReadyPods != 2 {
		t.Errorf("BackendsOf = %+v after writes to returned copies", b)
	}
	if inv.ClustersID() != cid || inv.BackendsID(svc) != bid {
		t.Error("the IDs changed without a change of the lists")
	}
	next := inv.WithBackends("other.gslb.example.com", []Backend{{Cluster: "a"}})
	if next.ClustersID() != cid || next.BackendsID(svc) != bid {
		t.Error("WithBackends of another service changed the IDs of lists it kept")
	}
	if inv.WithBackends(svc, inv.BackendsOf(svc)).BackendsID(svc) == bid || inv.WithClusters(inv.Clusters()).ClustersID() == cid {
		t.Error("a replaced list kept its ID")
	}
	if (Inventory{}).BackendsID(svc) != inv.BackendsID("none") {
		t.Error("the IDs of two empty lists differ")
	}
}

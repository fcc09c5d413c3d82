package api

import (
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/fieldcover"
	"github.com/meridian-gtm/meridian/model"
)

// TestSameOverrideSeesEveryField: a PUT that changes any field but who
// made the override and when is a change, not an idempotent repeat.
func TestSameOverrideSeesEveryField(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	o := model.Override{ID: "o1", Kind: model.Weight, Service: "app.gslb.example.com", Cluster: "eu-west", Address: netip.MustParseAddr("192.0.2.1"),
		Weight: 5, Order: []string{"eu-west"}, Reason: "test", Author: "ops", Created: at, Expires: at.Add(time.Hour)}
	fieldcover.Check(t, o, fieldcover.Options{Ignore: map[string]string{
		"Author":  "a repeated PUT by someone else changes nothing",
		"Created": "a repeated PUT later changes nothing",
	}}, func(a, b model.Override) bool { return !sameOverride(a, b) })
}

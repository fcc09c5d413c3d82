package api

import (
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

func TestHealthHistory(t *testing.T) {
	hh := NewHealthHistory()
	addr := netip.MustParseAddr("192.0.2.10")
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	verdict := func(state model.State, at time.Time, reason string) model.Health {
		return model.NewHealth([]model.TargetHealth{{Service: svcName, Cluster: "eu-west", Address: addr, State: state, Since: at, Reason: reason}})
	}
	hh.Observe(verdict(model.Up, t0, "HTTP 200"))
	hh.Observe(verdict(model.Down, t0.Add(time.Minute), "HTTP 503"))
	hh.Observe(verdict(model.Down, t0.Add(time.Minute), "HTTP 503")) // no change
	hh.Observe(verdict(model.Up, t0.Add(2*time.Minute), "HTTP 200"))
	hh.Observe(model.Health{}) // the target leaves
	hh.Observe(verdict(model.Down, t0.Add(3*time.Minute), "refused"))
	got := hh.Changes()
	want := []struct{ from, to string }{{"unknown", "up"}, {"up", "down"}, {"down", "up"}, {"unknown", "down"}}
	if len(got) != len(want) {
		t.Fatalf("changes %+v", got)
	}
	for i, w := range want {
		if got[i].From != w.from || got[i].To != w.to || got[i].Cluster != "eu-west" || got[i].Address != "192.0.2.10" {
			t.Errorf("change %d = %+v, want %s → %s", i, got[i], w.from, w.to)
		}
	}
	if !got[1].At.Equal(t0.Add(time.Minute)) || got[1].Reason != "HTTP 503" {
		t.Errorf("the down change %+v lacks its time or reason", got[1])
	}
	for i := range maxHistory + 10 {
		state := model.Up
		if i%2 == 0 {
			state = model.Down
		}
		hh.Observe(verdict(state, t0.Add(time.Duration(i)*time.Second), "flap"))
	}
	if n := len(hh.Changes()); n != maxHistory {
		t.Errorf("%d changes kept, want at most %d", n, maxHistory)
	}
}

package model

import (
	"net/netip"
	"testing"
	"time"
)

func TestServedHealth(t *testing.T) {
	const svc = "app.example.org"
	eu, us := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inv := func(euPods, usPods int) Inventory {
		return NewInventory(nil, []Backend{
			{Service: svc, Cluster: "eu", Ingress: []netip.Addr{eu}, ReadyPods: euPods},
			{Service: svc, Cluster: "us", Ingress: []netip.Addr{us}, ReadyPods: usPods},
		})
	}
	probes := func(euState State, euReason string, euSince time.Time) Health {
		return NewHealth([]TargetHealth{
			{Service: svc, Cluster: "eu", Address: eu, State: euState, Reason: euReason, Since: euSince},
			{Service: svc, Cluster: "us", Address: us, State: Up, Reason: NotProbed, Since: t0, Unprobed: true},
		})
	}
	check := func(step string, h Health, cluster string, addr netip.Addr, state State, reason string, since time.Time) {
		t.Helper()
		for _, v := range h.Of(svc) {
			if v.Cluster == cluster && v.Address == addr {
				if v.State != state || v.Reason != reason || !v.Since.Equal(since) {
					t.Errorf("%s: %s is %v %q since %v, want %v %q since %v", step, cluster, v.State, v.Reason, v.Since, state, reason, since)
				}
				return
			}
		}
		t.Errorf("%s: no verdict on %s", step, cluster)
	}

	// eu has no ready pods: down whatever its probes say, since now.
	t1 := t0.Add(time.Minute)
	h, changes := ServedHealth(probes(Up, "status 200", t0), inv(0, 2), Health{}, t1)
	check("no pods", h, "eu", eu, Down, "no ready pods", t1)
	check("no pods", h, "us", us, Up, "ready pods; not probed", t0)
	if len(changes) != 1 || changes[0].From != Unknown || changes[0].To.Cluster != "eu" || changes[0].To.State != Down {
		t.Errorf("no pods: readiness changes %+v, want eu unknown → down (a new target, as the health history says)", changes)
	}

	// Nothing changes: nothing to log, Since kept.
	h, changes = ServedHealth(probes(Up, "status 200", t0), inv(0, 2), h, t1.Add(time.Second))
	check("unchanged", h, "eu", eu, Down, "no ready pods", t1)
	if len(changes) != 0 {
		t.Errorf("unchanged: readiness changes %+v", changes)
	}

	// Pods are back: the probes decide again, since now.
	t2 := t1.Add(time.Minute)
	h, changes = ServedHealth(probes(Up, "status 200", t0), inv(3, 2), h, t2)
	check("pods back", h, "eu", eu, Up, "status 200", t2)
	if len(changes) != 1 || changes[0].From != Down || changes[0].To.State != Up {
		t.Errorf("pods back: readiness changes %+v, want eu down → up", changes)
	}

	// The probes fail: their verdict and its Since, and nothing for
	// readiness to log (the Checker logs its own changes).
	t3 := t2.Add(time.Minute)
	h, changes = ServedHealth(probes(Down, "status 503", t3), inv(3, 2), h, t3.Add(time.Millisecond))
	check("probe down", h, "eu", eu, Down, "status 503", t3)
	if len(changes) != 0 {
		t.Errorf("probe down: readiness changes %+v", changes)
	}

	// The us pods leave an unprobed target: down, no ready pods.
	h, _ = ServedHealth(probes(Down, "status 503", t3), inv(3, 0), h, t3.Add(time.Second))
	check("unprobed, no pods", h, "us", us, Down, "no ready pods", t3.Add(time.Second))

	// A probe's verdict is a probe's whatever its reason says: the flag,
	// not the text, tells an unprobed target.
	t4 := t3.Add(time.Minute)
	h, _ = ServedHealth(probes(Up, NotProbed, t4), inv(3, 2), Health{}, t4)
	check("probe saying not probed", h, "eu", eu, Up, NotProbed, t4)
	check("probe saying not probed", h, "us", us, Up, "ready pods; not probed", t0)
}

func TestReadyState(t *testing.T) {
	for _, s := range []State{Unknown, Up, Down} {
		if got := ReadyState(s, 0); got != Down {
			t.Errorf("ReadyState(%v, 0) = %v, want down", s, got)
		}
		if got := ReadyState(s, 1); got != s {
			t.Errorf("ReadyState(%v, 1) = %v, want %v", s, got, s)
		}
	}
}

func TestVerdictPending(t *testing.T) {
	p := DefaultPolicy("app.example.org", Geo)
	if got := p.VerdictPending(); got != Unknown {
		t.Errorf("probed: %v, want unknown until the first probes", got)
	}
	p.Unprobed = true
	if got := p.VerdictPending(); got != Up {
		t.Errorf("unprobed: %v, want up, as the checker's verdict will say", got)
	}
}

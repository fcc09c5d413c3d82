package health

import (
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// run feeds results one second apart and returns the state after each.
func run(th Thresholds, results string) (states []model.State, v Verdict) {
	for i, r := range results {
		v, _ = th.Observe(v, r == '+', string(r), t0.Add(time.Duration(i)*time.Second))
		states = append(states, v.State)
	}
	return states, v
}

func TestThresholds(t *testing.T) {
	const U, up, dn = model.Unknown, model.Up, model.Down
	for _, tc := range []struct {
		name    string
		th      Thresholds
		results string
		want    []model.State
	}{
		{"unknown until the first full run of successes", Thresholds{Rise: 2, Fall: 3}, "++", []model.State{U, up}},
		{"unknown until the first full run of failures", Thresholds{Rise: 2, Fall: 3}, "---", []model.State{U, U, dn}},
		{"fall counts exactly", Thresholds{Rise: 2, Fall: 3}, "++---", []model.State{U, up, up, up, dn}},
		{"rise counts exactly", Thresholds{Rise: 2, Fall: 3}, "---++", []model.State{U, U, dn, dn, up}},
		{"a success breaks a run of failures", Thresholds{Rise: 2, Fall: 3}, "++--+--+--", []model.State{U, up, up, up, up, up, up, up, up, up}},
		{"flapping input keeps an up verdict", Thresholds{Rise: 2, Fall: 3}, "++-+-+-+-+-+", []model.State{U, up, up, up, up, up, up, up, up, up, up, up}},
		{"flapping input keeps a down verdict", Thresholds{Rise: 2, Fall: 3}, "----+-+-+-+-", []model.State{U, U, dn, dn, dn, dn, dn, dn, dn, dn, dn, dn}},
		{"rise 1, fall 1 follows every result", Thresholds{Rise: 1, Fall: 1}, "+-+", []model.State{up, dn, up}},
		{"zero thresholds count as 1", Thresholds{}, "-+", []model.State{dn, up}},
	} {
		got, _ := run(tc.th, tc.results)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d states", tc.name, len(got))
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: after %q: %v, want %v", tc.name, tc.results[:i+1], got[i], tc.want[i])
				break
			}
		}
	}
}

func TestVerdictRecordsWhenAndWhy(t *testing.T) {
	th := Thresholds{Rise: 2, Fall: 3}
	var v Verdict
	var changed bool
	for i, r := range []string{"ok", "ok", "refused", "refused", "timeout"} {
		v, changed = th.Observe(v, r == "ok", r, t0.Add(time.Duration(i)*time.Second))
		if i == 1 && (!changed || v.Since != t0.Add(time.Second) || v.Reason != "ok") {
			t.Errorf("up: changed %v since %v reason %q", changed, v.Since, v.Reason)
		}
	}
	if !changed || v.State != model.Down || v.Since != t0.Add(4*time.Second) || v.Reason != "timeout" {
		t.Errorf("down: changed %v state %v since %v reason %q", changed, v.State, v.Since, v.Reason)
	}
}

func TestCombine(t *testing.T) {
	up := Verdict{State: model.Up, Reason: "status 200"}
	down := Verdict{State: model.Down, Reason: "status 503"}
	for _, tc := range []struct {
		name       string
		probe      Verdict
		probed     bool
		want       model.State
		wantReason string
	}{
		{"not probed: up, left to readiness", Verdict{}, false, model.Up, model.NotProbed},
		{"unknown until the first verdict", Verdict{}, true, model.Unknown, "awaiting the first probes"},
		{"the probes decide", down, true, model.Down, "status 503"},
		{"up", up, true, model.Up, "status 200"},
	} {
		if got, reason := combine(tc.probe, tc.probed); got != tc.want || reason != tc.wantReason {
			t.Errorf("%s: %v %q, want %v %q", tc.name, got, reason, tc.want, tc.wantReason)
		}
	}
}

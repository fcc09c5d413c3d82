package health

import (
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// Thresholds are the hysteresis of a target's verdict: Rise consecutive
// successes make it up, Fall consecutive failures make it down. A flapping
// target that never reaches either run keeps its verdict.
type Thresholds struct {
	Rise, Fall int
}

// Verdict is what the prober has concluded about one target so far.
type Verdict struct {
	State model.State
	// Since is when State began, and Reason why, for humans: the result of
	// the probe that decided it.
	Since  time.Time
	Reason string
	// The current runs of successes and failures; one resets the other.
	oks, fails int
}

// Observe folds one probe result, taken at time at, into v and reports
// whether the state changed. It is pure: time comes in, nothing goes out.
// A new target (Unknown) gets its first verdict from the first complete run.
func (th Thresholds) Observe(v Verdict, ok bool, reason string, at time.Time) (Verdict, bool) {
	if ok {
		v.oks, v.fails = v.oks+1, 0
	} else {
		v.oks, v.fails = 0, v.fails+1
	}
	next := v.State
	switch {
	case ok && v.oks >= max(th.Rise, 1) && v.State != model.Up:
		next = model.Up
	case !ok && v.fails >= max(th.Fall, 1) && v.State != model.Down:
		next = model.Down
	}
	if next == v.State {
		return v, false
	}
	v.State, v.Since, v.Reason = next, at, reason
	return v, true
}

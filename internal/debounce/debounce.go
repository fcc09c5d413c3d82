// Package debounce batches bursts of changes: the one implementation of
// Meridian's hold-off and maximum delay.
//
// Meridian debounces once on the way from a change to an answer: in the
// weights loop, where every input of Solve (Inventory, Health, Overrides,
// Policies) meets, so that a burst of changes costs one Solve, one DNS
// compile and one xDS snapshot. Discovery does not wait on a timer of its
// own: it builds an Inventory as soon as it is told of a change, then rests
// (Rest) before the next build, so that a burst of changes costs at most
// one Inventory per rest while a lone change costs no wait at all.
package debounce

import (
	"context"
	"time"
)

// Defaults of Timing.
const (
	// DefaultHoldOff is how long a quiet spell must last before the batch
	// is taken: long enough for the events of one kubectl write (an
	// EndpointSlice, then maybe its Service) and the verdicts of one probe
	// round to arrive together, short enough to add little to the time
	// from a change to the DNS answer that shows it.
	DefaultHoldOff = 20 * time.Millisecond
	// DefaultMaxDelay bounds how long a steady stream of changes (a
	// rolling update, a flapping target) can postpone the batch.
	DefaultMaxDelay = 200 * time.Millisecond
)

// Timing is a hold-off and a maximum delay. The zero value means the
// defaults.
type Timing struct {
	// HoldOff is how long Wait waits for more changes after the latest
	// one; at most 0 means DefaultHoldOff.
	HoldOff time.Duration
	// MaxDelay bounds how long a steady stream of changes can postpone
	// the end of Wait, counted from the change that started it; less than
	// HoldOff means max(DefaultMaxDelay, HoldOff).
	MaxDelay time.Duration
}

// WithDefaults returns t with its zero or inconsistent fields set.
func (t Timing) WithDefaults() Timing {
	if t.HoldOff <= 0 {
		t.HoldOff = DefaultHoldOff
	}
	if t.MaxDelay < t.HoldOff {
		t.MaxDelay = max(DefaultMaxDelay, t.HoldOff)
	}
	return t
}

// Wait is called after a first change has arrived (a receive from wake).
// It returns when no further change has arrived on wake for HoldOff, or
// when MaxDelay has passed since Wait was called, whichever is first: the
// caller then takes every change so far in one batch. It returns false
// when ctx ends first. t must have its defaults (WithDefaults).
//
// wake is a channel of capacity one that every change sends to without
// blocking (a change finding it full is already counted).
func (t Timing) Wait(ctx context.Context, wake <-chan struct{}) bool {
	deadline := time.NewTimer(t.MaxDelay)
	defer deadline.Stop()
	hold := time.NewTimer(t.HoldOff)
	defer hold.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-wake:
			hold.Reset(t.HoldOff)
		case <-hold.C:
			return true
		case <-deadline.C:
			return true
		}
	}
}

// Notify sends to wake without blocking, for Wait.
func Notify(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// DefaultRest is how long a source that takes its changes at once (Rest)
// waits after a batch before it takes the next: a burst of writes to a
// cluster's API costs at most one Inventory per 50 ms, and a lone change
// waits for nothing.
const DefaultRest = 50 * time.Millisecond

// Rest waits d after a batch was taken, or until ctx ends (then it returns
// false). Changes that arrive meanwhile are taken together by the next
// batch: unlike Wait, Rest delays only the changes that follow another
// one closely, never the first.
func Rest(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

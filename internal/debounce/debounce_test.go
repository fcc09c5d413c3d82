package debounce

import (
	"context"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	for _, c := range []struct{ in, want Timing }{
		{Timing{}, Timing{DefaultHoldOff, DefaultMaxDelay}},
		{Timing{HoldOff: time.Second}, Timing{time.Second, time.Second}},
		{Timing{HoldOff: time.Millisecond, MaxDelay: 5 * time.Millisecond}, Timing{time.Millisecond, 5 * time.Millisecond}},
	} {
		if got := c.in.WithDefaults(); got != c.want {
			t.Errorf("%+v.WithDefaults() = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// TestHoldOffRestarts: every change restarts the hold-off, so Wait
// returns HoldOff after the last change of a burst.
func TestHoldOffRestarts(t *testing.T) {
	tm := Timing{HoldOff: 30 * time.Millisecond, MaxDelay: 10 * time.Second}
	wake := make(chan struct{}, 1)
	start := time.Now()
	go func() {
		for range 5 {
			time.Sleep(10 * time.Millisecond)
			Notify(wake)
		}
	}()
	if !tm.Wait(context.Background(), wake) {
		t.Fatal("Wait returned false")
	}
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Errorf("Wait returned after %v, before the burst (50 ms) and a hold-off (30 ms)", took)
	}
}

// TestMaxDelayBounds: a steady stream of changes cannot postpone the end
// of Wait past MaxDelay.
func TestMaxDelayBounds(t *testing.T) {
	tm := Timing{HoldOff: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond}
	wake := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				Notify(wake)
			}
		}
	}()
	start := time.Now()
	if !tm.Wait(context.Background(), wake) {
		t.Fatal("Wait returned false")
	}
	if took := time.Since(start); took < 100*time.Millisecond || took > 5*time.Second {
		t.Errorf("Wait returned after %v under a steady stream, want MaxDelay (100 ms)", took)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if (Timing{}).WithDefaults().Wait(ctx, make(chan struct{}, 1)) {
		t.Error("Wait returned true after ctx ended")
	}
}

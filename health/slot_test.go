package health

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestNextSlotSpreadsTargets checks that targets that all start at the same
// moment end up spread over the interval, each in a fixed place.
func TestNextSlotSpreadsTargets(t *testing.T) {
	c := New(Config{})
	const iv = time.Second
	svc := &service{name: "app.example.org", check: Check{Interval: iv}}
	now := time.Unix(1_700_000_000, 123_456_789)
	var buckets [10]int
	for i := range 2000 {
		tg := &target{svc: svc, key: targetKey{cluster: fmt.Sprint("c", i%7), addr: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}}
		first := c.nextSlot(tg, now)
		if !first.After(now.Add(iv/2)) || first.After(now.Add(iv*3/2)) {
			t.Fatalf("target %d: first slot %v after start, want within (0.5s, 1.5s]", i, first.Sub(now))
		}
		tg.slot = first
		// The slot is where the target stays, probe after probe, even when
		// a probe ends late within the interval.
		second := c.nextSlot(tg, first.Add(300*time.Millisecond))
		if second.Sub(first) != iv {
			t.Fatalf("target %d: second slot %v after the first, want %v", i, second.Sub(first), iv)
		}
		buckets[first.UnixNano()%int64(iv)/int64(iv/10)]++
	}
	for i, n := range buckets {
		if n < 140 || n > 260 { // 200 expected in each tenth
			t.Errorf("tenth %d of the interval holds %d of 2000 targets: %v", i, n, buckets)
		}
	}
}

// TestNextSlotAfterStall checks that a target whose slot has passed (the
// scheduler stalled) is not probed in a burst to catch up: it takes its
// next place after half an interval.
func TestNextSlotAfterStall(t *testing.T) {
	c := New(Config{})
	const iv = time.Second
	svc := &service{name: "app.example.org", check: Check{Interval: iv}}
	tg := &target{svc: svc, key: targetKey{cluster: "a", addr: netip.MustParseAddr("192.0.2.1")}}
	now := time.Unix(1_700_000_000, 0)
	tg.slot = c.nextSlot(tg, now)
	late := tg.slot.Add(5 * iv)
	next := c.nextSlot(tg, late)
	if !next.After(late.Add(iv/2)) || next.After(late.Add(iv*3/2)) {
		t.Errorf("after a stall the next slot is %v away, want within (0.5s, 1.5s]", next.Sub(late))
	}
	if next.Sub(tg.slot)%iv != 0 {
		t.Errorf("the target left its offset: %v from its old slot", next.Sub(tg.slot))
	}
}

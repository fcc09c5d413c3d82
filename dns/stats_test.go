package dns

import (
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// TestObserveBatchCountsAsOneByOne: counting a batch at once gives every
// counter the value that counting its queries one by one gives.
func TestObserveBatchCountsAsOneByOne(t *testing.T) {
	zoneA, zoneB := &zoneTable{queries: new(atomic.Uint64)}, &zoneTable{queries: new(atomic.Uint64)}
	var answered atomic.Uint64
	batch := []outcome{
		{rcode: 0, qtype: mdns.TypeA, ecs: true, zone: zoneA, counter: &answered},
		{rcode: 3, qtype: mdns.TypeA, ecs: true, zone: zoneA},
		{rcode: -1}, // dropped: not counted
		{rcode: 0, qtype: mdns.TypeTXT, truncated: true, zone: zoneB},
		{rcode: 5, qtype: 65280}, // REFUSED, outside our zones, an odd type
		{rcode: 0, qtype: mdns.TypeAAAA, ecs: true, zone: zoneA, counter: &answered},
	}
	took := 120 * time.Microsecond

	one := NewStats(prometheus.NewRegistry())
	for i := range batch {
		one.observe(&batch[i], took)
	}
	wantA, wantB, wantAnswered := zoneA.queries.Swap(0), zoneB.queries.Swap(0), answered.Swap(0)
	all := NewStats(prometheus.NewRegistry())
	all.observeBatch(batch, took)

	if zoneA.queries.Load() != wantA || zoneB.queries.Load() != wantB || answered.Load() != wantAnswered {
		t.Errorf("zones %d %d answered %d, want %d %d %d", zoneA.queries.Load(), zoneB.queries.Load(), answered.Load(), wantA, wantB, wantAnswered)
	}
	if wantA != 3 || wantB != 1 || wantAnswered != 2 {
		t.Errorf("one by one: zones %d %d answered %d, want 3 1 2", wantA, wantB, wantAnswered)
	}
	same := func(name string, a, b []atomic.Uint64) {
		for i := range a {
			if a[i].Load() != b[i].Load() {
				t.Errorf("%s[%d] = %d, one by one %d", name, i, b[i].Load(), a[i].Load())
			}
		}
	}
	same("qtypes", one.qtypes[:], all.qtypes[:])
	same("rcodes", one.rcodes[:], all.rcodes[:])
	same("ecs", one.ecs[:], all.ecs[:])
	same("latency", one.latency[:], all.latency[:])
	if one.truncated.Load() != all.truncated.Load() || one.latencySum.Load() != all.latencySum.Load() {
		t.Errorf("truncated %d sum %d, one by one %d %d", all.truncated.Load(), all.latencySum.Load(), one.truncated.Load(), one.latencySum.Load())
	}
}

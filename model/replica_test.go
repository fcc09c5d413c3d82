package model

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestProbeReportVerdict(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	r := NewProbeReport("r1", time.Unix(1, 0), []TargetHealth{
		{Service: "s", Cluster: "c", Address: b, State: Down, Reason: "refused"},
		{Service: "s", Cluster: "c", Address: a, State: Up},
		{Service: "s", Cluster: "c", Address: netip.AddrFrom16(b.As16()), State: Unknown},
	}, nil)
	if len(r.NotUp) != 1 {
		t.Fatalf("NotUp = %+v, want the one entry on 10.0.0.2 (Up dropped, the later entry kept)", r.NotUp)
	}
	if v := r.Verdict("s", "c", b); v.State != Unknown {
		t.Errorf("verdict on 10.0.0.2 = %v, want the later entry, unknown", v.State)
	}
	if v := r.Verdict("s", "c", a); v.State != Up || v.Reason != "" {
		t.Errorf("verdict on an unlisted target = %+v, want up", v)
	}
	if !r.ProbesService("s") || r.ProbesService("t") {
		t.Errorf("probes %v: the services of the entries are probed, no others", r.Probes)
	}
	if r := NewProbeReport("r1", time.Time{}, nil, []string{"u", "t", "u"}); !slices.Equal(r.Probes, []string{"t", "u"}) {
		t.Errorf("probes %v, want [t u]", r.Probes)
	}
	rr := ReplicaReport{ProbeReport: r, Expires: time.Unix(10, 0)}
	if !rr.Live(time.Unix(9, 0)) || rr.Live(time.Unix(10, 0)) {
		t.Error("a report must count until it expires, and not from then on")
	}
}

func TestPlanVersionText(t *testing.T) {
	if got := (&Plan{Version: 0xab}).VersionText(); got != "00000000000000ab" {
		t.Errorf("VersionText = %s, want 16 hex digits", got)
	}
}

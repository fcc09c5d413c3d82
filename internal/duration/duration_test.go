package duration

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "300": 300 * time.Second, "30s": 30 * time.Second, "5m": 5 * time.Minute,
		"2h": 2 * time.Hour, "1d": 24 * time.Hour, "2w": 14 * 24 * time.Hour,
		"500ms": 500 * time.Millisecond, "0.1s": 100 * time.Millisecond, "1.5h": 90 * time.Minute,
		"1h30m": 90 * time.Minute, "1d12h": 36 * time.Hour, "1w1d": 8 * 24 * time.Hour, "2us": 2 * time.Microsecond,
		"1µs": time.Microsecond, "3ns": 3, ".5s": 500 * time.Millisecond, "1.s": time.Second,
		"106751d": 106751 * 24 * time.Hour,
	} {
		if got, ok := Parse(in); !ok || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "+1d", "1x", "1h30", "1..5h", ".", ".s", "1 h", "1H", "1d ", "106752d",
		"99999999999999999999", "15251w", "9223372037s", "9223372037", "106751d24h"} {
		if got, ok := Parse(in); ok {
			t.Errorf("Parse(%q) = %v, want a refusal", in, got)
		}
	}
}

// TestParseAgreesWithGo: what Go's time.ParseDuration reads without a sign,
// Parse reads the same.
func TestParseAgreesWithGo(t *testing.T) {
	for _, in := range []string{"1h2m3s", "1.25h", "750ms", "2h45m0.5s", "0s", "1m0.001s", "3h0m0s", "0.000000001s"} {
		want, err := time.ParseDuration(in)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := Parse(in); !ok || got != want {
			t.Errorf("Parse(%q) = %v, %v; time.ParseDuration says %v", in, got, ok, want)
		}
	}
}

package duration

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "300": 300 * time.Second, "30s": 30 * time.Second, "5m": 5 * time.Minute,
		"2h": 2 * time.Hour, "1d": 24 * time.Hour, "2w": 14 * 24 * time.Hour,
	} {
		if got, ok := Parse(in); !ok || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "+1d", "1.5h", "1x", "1h30m", "106752d", "99999999999999999999"} {
		if got, ok := Parse(in); ok {
			t.Errorf("Parse(%q) = %v, want a refusal", in, got)
		}
	}
}

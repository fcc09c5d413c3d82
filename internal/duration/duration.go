// Package duration reads durations written the way the config file writes
// them. It is the one parser of durations for the config (TTLs, windows,
// probe intervals), the API (an override's "for") and `meridian ctl`
// (-for), so that "1d" or "1h30m" means the same everywhere.
package duration

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// units are the suffixes Parse knows, with what one of each is worth,
// longest first where one is the prefix of another ("ms" before "m").
var units = []struct {
	name string
	d    time.Duration
}{
	{"ns", time.Nanosecond},
	{"us", time.Microsecond},
	{"µs", time.Microsecond},
	{"ms", time.Millisecond},
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
}

// Syntax describes what Parse accepts, for error messages.
const Syntax = "seconds or a duration such as 500ms, 30s, 5m, 2h, 1d, 1w or 1h30m"

// Parse reads a whole number of seconds ("300"), or one or more numbers
// each with a unit, as Go's time.ParseDuration writes them, plus d (24
// hours) and w (7 days): "500ms", "30s", "5m", "1h", "1d", "1w", "1h30m",
// "1d12h", "1.5h". It refuses signs, empty text, a number without a unit
// after the first and values too large for a time.Duration.
func Parse(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(s, 10, 63); err == nil {
		if n > uint64(math.MaxInt64/int64(time.Second)) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		num := s[:i]
		if num == "" || strings.Count(num, ".") > 1 || num == "." {
			return 0, false
		}
		s = s[i:]
		var unit time.Duration
		for _, u := range units {
			if strings.HasPrefix(s, u.name) {
				unit, s = u.d, s[len(u.name):]
				break
			}
		}
		if unit == 0 {
			return 0, false
		}
		d, ok := scale(num, unit)
		if !ok || total > math.MaxInt64-d {
			return 0, false
		}
		total += d
	}
	return total, true
}

// scale returns num (digits with at most one '.') times unit, exactly
// for the whole part, false when it overflows.
func scale(num string, unit time.Duration) (time.Duration, bool) {
	whole, frac, _ := strings.Cut(num, ".")
	var d time.Duration
	if whole != "" {
		n, err := strconv.ParseUint(whole, 10, 63)
		if err != nil || n > uint64(math.MaxInt64/int64(unit)) {
			return 0, false
		}
		d = time.Duration(n) * unit
	}
	// The fraction, digit by digit: unit/10, unit/100, ... (below a
	// nanosecond the digits no longer count).
	part := unit
	for _, c := range frac {
		part /= 10
		f := time.Duration(c-'0') * part
		if d > math.MaxInt64-f {
			return 0, false
		}
		d += f
	}
	return d, true
}

// Package duration reads durations written the way the config file writes
// them, so that the config and the API accept the same text.
package duration

import (
	"strconv"
	"time"
)

// units are the suffixes Parse knows, with what one of each is worth.
var units = map[byte]time.Duration{
	's': time.Second,
	'm': time.Minute,
	'h': time.Hour,
	'd': 24 * time.Hour,
	'w': 7 * 24 * time.Hour,
}

// Parse reads a whole number of seconds ("300") or a whole number with a
// unit: s, m, h, d (24 hours) or w (7 days), as in "30s", "5m", "1h",
// "1d", "1w". It refuses signs, fractions, empty text and values too large
// for a time.Duration.
func Parse(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	unit := time.Second
	if u, ok := units[s[len(s)-1]]; ok {
		s, unit = s[:len(s)-1], u
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil || n > uint64(1<<63-1)/uint64(unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

package model

import "testing"

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{
		"App.GSLB.example.com.": "app.gslb.example.com",
		"app.gslb.example.com":  "app.gslb.example.com",
		".":                     "",
		"":                      "",
		"a..":                   "a.", // only the final dot goes
	} {
		if got := CanonicalName(in); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

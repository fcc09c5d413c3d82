package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-gtm/meridian/internal/fuzzseed"
)

// FuzzParse feeds arbitrary text to the config parser. It must never
// panic, and every error it returns must name a file and a line.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzseed.Configs(f) {
		f.Add(s)
	}
	// Files an import may pull in, next to the fuzzed file; the fuzz input
	// cannot reach beyond this directory (see below).
	dir := f.TempDir()
	for name, text := range map[string]string{
		"a.conf":    "cluster a {\n    static {\n        ingress 192.0.2.1\n        pods app 1\n    }\n}\n",
		"self.conf": "import self.conf\n",
		"bad.conf":  "cluster b {\n    region\n}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	file := filepath.Join(dir, "fuzz.conf")
	f.Fuzz(func(t *testing.T, text string) {
		// An import of another directory, or of an environment variable,
		// could read any file on the machine (or /dev/zero, forever).
		if strings.Contains(text, "import") && strings.ContainsAny(text, `/\`) || strings.Contains(text, "{$") {
			return
		}
		_, err := Parse(file, []byte(text))
		for _, e := range fuzzseed.Leaves(err) {
			var ce *Error
			if !errors.As(e, &ce) || ce.Pos.File == "" || ce.Pos.Line <= 0 {
				t.Errorf("error %q (%T) does not name FILE:LINE", e, e)
			}
		}
	})
}

// Package fuzzseed gathers the configs that fuzz targets start from, so
// that every config a test writes also seeds the fuzzers and the seeds
// follow the tests as they change.
package fuzzseed

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Configs returns the config files of the repository (the demo's, the
// benchmark's) and every string literal in the tests of config, dns and
// cmd/meridian that holds a block, as a config does.
func Configs(tb testing.TB) []string {
	tb.Helper()
	root := Root(tb)
	var out []string
	for _, p := range []string{"deploy/demo/meridian.conf", "bench/dns/meridian.conf"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, string(b))
	}
	for _, pkg := range []string{"config", "dns", "cmd/meridian"} {
		files, err := filepath.Glob(filepath.Join(root, pkg, "*_test.go"))
		if err != nil {
			tb.Fatal(err)
		}
		for _, name := range files {
			out = append(out, literals(tb, name, "{\n")...)
		}
	}
	return out
}

// Records returns the zone-file lines of the tests of dns and
// cmd/meridian: the text after `record ` in their string literals, one
// record a line, and the lines of the benchmark's zone file.
func Records(tb testing.TB) []string {
	tb.Helper()
	root := Root(tb)
	var out []string
	for _, pkg := range []string{"dns", "cmd/meridian"} {
		files, err := filepath.Glob(filepath.Join(root, pkg, "*_test.go"))
		if err != nil {
			tb.Fatal(err)
		}
		for _, name := range files {
			for _, lit := range literals(tb, name, "record ") {
				for _, line := range strings.Split(lit, "\n") {
					if _, rec, ok := strings.Cut(line, "record "); ok {
						out = append(out, rec)
					}
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "bench/dns/gslb.example.com.zone"))
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, string(b))
}

// literals returns the string literals of a Go file that contain sub.
func literals(tb testing.TB, name, sub string) []string {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, name, nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	ast.Inspect(file, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil && strings.Contains(s, sub) {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}

// Root returns the module's root, found from the test's directory.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/meridian-gtm/meridian")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("fuzzseed: no go.mod of meridian above the test's directory")
		}
		dir = parent
	}
}

// Leaves returns the errors err joins (errors.Join, at any depth), or err
// alone; none for nil.
func Leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Leaves(e)...)
		}
		return out
	}
	return []error{err}
}

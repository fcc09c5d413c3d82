// Command gencountries writes geo/countries_gen.go, the country table that
// fills in the continent and a centroid for databases that know only the
// country, from the countries.json of the world-countries npm package
// (https://github.com/mledoze/countries, ODbL 1.0).
//
// Usage:
//
//	go run ./internal/gencountries -in countries.json -out countries_gen.go
//
// When a package.json sits next to the input, its name and version are named
// in the generated header, so that the table says which data it came from.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	in := flag.String("in", "", "countries.json of the world-countries npm package")
	out := flag.String("out", "countries_gen.go", "Go file to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gencountries:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" {
		return errors.New("-in is required: the countries.json of the world-countries npm package (go generate takes it from $COUNTRIES_JSON)")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	src, err := generate(data, sourceName(filepath.Dir(in)))
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return os.WriteFile(out, src, 0o644)
}

// sourceName names the npm package in dir ("world-countries 5.1.0") from its
// package.json, or says only "world-countries" when there is none.
func sourceName(dir string) string {
	const fallback = "world-countries"
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return fallback
	}
	var pkg struct{ Name, Version string }
	if json.Unmarshal(data, &pkg) != nil || pkg.Name == "" || pkg.Version == "" {
		return fallback
	}
	return pkg.Name + " " + pkg.Version
}

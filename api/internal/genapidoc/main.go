// Command genapidoc writes docs/api.md, the API reference, from the
// OpenAPI document the server serves (api/openapi.json), so that the two
// cannot drift: TestAPIDocIsCurrent fails when docs/api.md is stale.
//
// Usage:
//
//	go run ./api/internal/genapidoc -in api/openapi.json -out docs/api.md
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/meridian-gtm/meridian/api/internal/genapidoc/render"
)

func main() {
	in := flag.String("in", "api/openapi.json", "the OpenAPI document")
	out := flag.String("out", "docs/api.md", "the Markdown file to write")
	flag.Parse()
	doc, err := os.ReadFile(*in)
	if err == nil {
		var md []byte
		if md, err = render.Markdown(doc); err == nil {
			err = os.WriteFile(*out, md, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genapidoc:", err)
		os.Exit(1)
	}
}

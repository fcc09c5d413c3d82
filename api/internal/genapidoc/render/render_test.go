package render

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestAPIDocIsCurrent keeps docs/api.md in step with the OpenAPI document.
func TestAPIDocIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("../../../openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Markdown(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("docs/api.md is stale: go run ./api/internal/genapidoc -in api/openapi.json -out docs/api.md")
	}
	for _, s := range []string{"## `PUT /api/v1/overrides/{id}`", "### OverrideRequest", "| `dry_run` | query | no | boolean |"} {
		if !strings.Contains(string(want), s) {
			t.Errorf("the reference lacks %q", s)
		}
	}
}

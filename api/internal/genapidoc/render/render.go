// Package render turns Meridian's OpenAPI document into Markdown.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

type schema struct {
	Ref         string             `json:"$ref"`
	Type        string             `json:"type"`
	Format      string             `json:"format"`
	Enum        []string           `json:"enum"`
	Items       *schema            `json:"items"`
	Properties  map[string]*schema `json:"properties"`
	Required    []string           `json:"required"`
	Description string             `json:"description"`
}

type operation struct {
	Summary     string `json:"summary"`
	Description string `json:"description"`
	Parameters  []struct {
		Name        string  `json:"name"`
		In          string  `json:"in"`
		Required    bool    `json:"required"`
		Description string  `json:"description"`
		Schema      *schema `json:"schema"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Description string `json:"description"`
		Content     map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
	Security *[]any `json:"security"`
}

type document struct {
	Info struct {
		Title, Description string
	} `json:"info"`
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas map[string]*schema `json:"schemas"`
	} `json:"components"`
}

// Markdown renders the document: every path and method with its
// parameters, body and answers, then every schema.
func Markdown(raw []byte) ([]byte, error) {
	var d document
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("the OpenAPI document: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s reference\n\n<!-- Generated from api/openapi.json by api/internal/genapidoc; do not edit. -->\n\n%s\n\n", d.Info.Title, d.Info.Description)
	methods := []string{"get", "put", "post", "delete"}
	for _, path := range slices.Sorted(maps.Keys(d.Paths)) {
		for _, m := range methods {
			op, ok := d.Paths[path][m]
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "## `%s %s`\n\n%s.", strings.ToUpper(m), path, op.Summary)
			if op.Description != "" {
				fmt.Fprintf(&b, " %s", op.Description)
			}
			if op.Security != nil && len(*op.Security) == 0 {
				b.WriteString(" No token needed.")
			}
			b.WriteString("\n\n")
			if len(op.Parameters) > 0 {
				b.WriteString("| parameter | in | required | type | meaning |\n|---|---|---|---|---|\n")
				for _, p := range op.Parameters {
					fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", p.Name, p.In, yesNo(p.Required), typeOf(p.Schema), p.Description)
				}
				b.WriteString("\n")
			}
			if op.RequestBody != nil {
				fmt.Fprintf(&b, "Body: %s.\n\n", typeOf(op.RequestBody.Content["application/json"].Schema))
			}
			b.WriteString("| status | meaning | body |\n|---|---|---|\n")
			for _, code := range slices.Sorted(maps.Keys(op.Responses)) {
				r := op.Responses[code]
				fmt.Fprintf(&b, "| %s | %s | %s |\n", code, r.Description, typeOf(r.Content["application/json"].Schema))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("## Schemas\n\n")
	for _, name := range slices.Sorted(maps.Keys(d.Components.Schemas)) {
		s := d.Components.Schemas[name]
		fmt.Fprintf(&b, "### %s\n\n| field | type | required |\n|---|---|---|\n", name)
		for _, f := range slices.Sorted(maps.Keys(s.Properties)) {
			p := s.Properties[f]
			t := typeOf(p)
			if p.Description != "" {
				t += " — " + p.Description
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f, t, yesNo(slices.Contains(s.Required, f)))
		}
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// typeOf names a schema's type in words.
func typeOf(s *schema) string {
	switch {
	case s == nil:
		return "-"
	case s.Ref != "":
		name := s.Ref[strings.LastIndexByte(s.Ref, '/')+1:]
		return "[" + name + "](#" + strings.ToLower(name) + ")"
	case s.Type == "array":
		return "array of " + typeOf(s.Items)
	case len(s.Enum) > 0:
		return s.Type + ": " + strings.Join(s.Enum, ", ")
	case s.Format != "":
		return s.Type + " (" + s.Format + ")"
	case s.Type == "":
		return "any"
	}
	return s.Type
}

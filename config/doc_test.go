package config

import (
	"go/ast"
	goparser "go/parser"
	gotoken "go/token"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestEveryDirectiveIsDocumented keeps docs/configuration.md complete: every
// directive the decoder knows (the keys of its directive tables and the
// top-level blocks) must appear in a code span of the reference.
func TestEveryDirectiveIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	word := regexp.MustCompile(`[a-z0-9_]+`)
	for _, span := range regexp.MustCompile("`[^`]+`").FindAll(doc, -1) {
		for _, w := range word.FindAll(span, -1) {
			documented[string(w)] = true
		}
	}

	f, err := goparser.ParseFile(gotoken.NewFileSet(), "decode.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	directives := map[string]bool{"meridian": true, "cluster": true, "zone": true, "import": true}
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		if m, ok := lit.Type.(*ast.MapType); !ok || !isIdent(m.Value, "directive") {
			return true
		}
		for _, e := range lit.Elts {
			if k, ok := e.(*ast.KeyValueExpr).Key.(*ast.BasicLit); ok {
				name, _ := strconv.Unquote(k.Value)
				directives[name] = true
			}
		}
		return true
	})
	if len(directives) < 60 {
		t.Fatalf("found only %d directives in decode.go: has the decoder changed shape?", len(directives))
	}
	for d := range directives {
		if !documented[d] {
			t.Errorf("directive %q is not in docs/configuration.md", d)
		}
	}
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

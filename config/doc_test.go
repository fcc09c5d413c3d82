package config

import (
	"go/ast"
	goparser "go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

	files, err := filepath.Glob("decode*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no decode*.go files: %v", err)
	}
	directives := map[string]bool{"meridian": true, "cluster": true, "zone": true, "import": true}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(gotoken.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		tableKeys(f, directives)
	}
	if len(directives) < 60 {
		t.Fatalf("found only %d directives in decode*.go: has the decoder changed shape?", len(directives))
	}
	for d := range directives {
		if !documented[d] {
			t.Errorf("directive %q is not in docs/configuration.md", d)
		}
	}
}

// tableKeys adds the keys of the directive tables of f (map literals whose
// values are directives) to directives.
func tableKeys(f *ast.File, directives map[string]bool) {
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
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

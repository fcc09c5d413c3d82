package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/meridian-gtm/meridian"

// rule says which packages of the module may import a package (or, with
// a trailing slash, any package under a path).
type rule struct {
	imported string   // an import path; ending in "/": every path under it
	allowed  []string // packages of the module, relative; ending in "/": a tree
	why      string
}

var rules = []rule{
	{module + "/config", []string{"cmd/meridian"},
		"components take option structs built in cmd/meridian, not the config's types (issue 20, item 3)"},
	{"github.com/miekg/dns", []string{"dns"}, "only the DNS server speaks the wire format"},
	{"github.com/envoyproxy/go-control-plane/", []string{"xds"}, "only the xDS server speaks xDS"},
	{"k8s.io/client-go/", []string{"discovery/", "api/kubestore", "internal/kubetest/"},
		"Kubernetes is read by discovery and written by the overrides store; kubetest runs API servers for tests"},
}

// pending are imports a rule forbids that are known and owned elsewhere;
// the test fails when one of them is gone, so that the entry goes too.
var pending = map[string]string{}

// leaves are packages that import no package of the module but these.
var leaves = map[string][]string{
	"model":   nil,
	"weights": {"model", "internal/debounce"},
}

// testOnly are packages that may break a rule because only tests use
// them: no package of the module may import them outside its tests.
var testOnly = []string{"internal/kubetest/"}

type pkg struct {
	ImportPath string
	Imports    []string // of the non-test files
}

// TestImportRules reads `go list -json` of every package of the module and
// checks every rule against the imports of its non-test files.
func TestImportRules(t *testing.T) {
	pkgs := list(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages: is the test run from the module?", len(pkgs))
	}
	seen := map[string]bool{}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			checkImport(t, rel, imp, seen)
		}
	}
	for k, why := range pending {
		if !seen[k] {
			t.Errorf("%s is no longer imported (%s): remove it from pending", k, why)
		}
	}
}

func checkImport(t *testing.T, rel, imp string, seen map[string]bool) {
	if allowed, leaf := leaves[rel]; leaf {
		if dep, ours := strings.CutPrefix(imp, module+"/"); ours && !slices.Contains(allowed, dep) {
			t.Errorf("%s imports %s; it imports no package of the module but %v", rel, imp, allowed)
		}
	}
	for _, to := range testOnly {
		if dep, ours := strings.CutPrefix(imp, module+"/"); ours && within(dep, to) && !within(rel, to) {
			t.Errorf("%s imports %s, which only tests may use", rel, imp)
		}
	}
	for _, r := range rules {
		if !within(imp, r.imported) || slices.ContainsFunc(r.allowed, func(a string) bool { return within(rel, a) }) {
			continue
		}
		key := rel + " -> " + imp
		if _, ok := pending[key]; ok {
			seen[key] = true
			continue
		}
		t.Errorf("%s imports %s; only %s may: %s", rel, imp, strings.Join(r.allowed, ", "), r.why)
	}
}

// within reports whether path is pattern or, when pattern ends in "/",
// lies under it.
func within(path, pattern string) bool {
	if tree, ok := strings.CutSuffix(pattern, "/"); ok {
		return path == tree || strings.HasPrefix(path, tree+"/")
	}
	return path == pattern
}

// list runs `go list -json` over the module's packages.
func list(t *testing.T) []pkg {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
}

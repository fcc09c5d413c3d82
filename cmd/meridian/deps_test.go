package main

import (
	"os/exec"
	"strings"
	"testing"
)

// testOnlyModules are required by go.mod for tests alone: a browser driver
// (status page tests), a GeoIP database writer (test databases) and an
// image builder (internal/imagebuild). None may reach the binary: each
// would add megabytes and code nobody reviews as part of the server.
// golang-dnstap is not one of them: dnstap logging is a runtime feature.
var testOnlyModules = []string{
	"github.com/chromedp/",
	"github.com/maxmind/mmdbwriter",
	"github.com/google/go-containerregistry",
}

// testOnlyPackages are the main module's generators and test helpers.
// go version -m lists modules, not packages, so these are looked for in
// the import graph of the build (go list -deps, without tests), which is
// what the linker may link.
var testOnlyPackages = []string{
	// Generators, run by hand or by make.
	"github.com/meridian-gtm/meridian/api/internal/genmap",
	"github.com/meridian-gtm/meridian/api/internal/genapidoc",
	"github.com/meridian-gtm/meridian/internal/imagebuild",
	"github.com/meridian-gtm/meridian/internal/promtest",
	// Test helpers.
	"github.com/meridian-gtm/meridian/internal/daemontest",
	"github.com/meridian-gtm/meridian/internal/fuzzseed",
	"github.com/meridian-gtm/meridian/internal/knottest",
	"github.com/meridian-gtm/meridian/internal/kubetest",
	"github.com/meridian-gtm/meridian/internal/nsdtest",
	"github.com/meridian-gtm/meridian/internal/testcert",
	"github.com/meridian-gtm/meridian/internal/testlog",
	"github.com/meridian-gtm/meridian/internal/testmetrics",
}

// TestBinaryLinksNoTestOnlyCode reads the modules linked into the binary
// the end-to-end tests run (go version -m) and the packages its build
// imports, and checks that no test-only module, generator or test helper
// is among them.
func TestBinaryLinksNoTestOnlyCode(t *testing.T) {
	out, err := exec.Command("go", "version", "-m", meridianBin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	linked := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "dep" || f[0] == "=>") {
			linked[f[1]] = true
		}
	}
	// The binary's own dependencies are listed: an empty or misread
	// listing must not pass.
	for _, m := range []string{"github.com/miekg/dns", "github.com/envoyproxy/go-control-plane", "github.com/dnstap/golang-dnstap", "k8s.io/client-go"} {
		if !linked[m] {
			t.Fatalf("go version -m lists no %s, which meridian uses:\n%s", m, out)
		}
	}
	for m := range linked {
		for _, bad := range testOnlyModules {
			if strings.HasPrefix(m, bad) {
				t.Errorf("the meridian binary links the test-only module %s", m)
			}
		}
	}

	list := exec.Command("go", "list", "-deps", ".")
	out, err = list.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		deps[strings.TrimSpace(line)] = true
	}
	if !deps["github.com/meridian-gtm/meridian/dns"] {
		t.Fatalf("go list -deps lists no meridian/dns:\n%s", out)
	}
	for p := range deps {
		for _, bad := range testOnlyPackages {
			if p == bad || strings.HasPrefix(p, bad+"/") {
				t.Errorf("the meridian binary imports %s, which only tests and generators may", p)
			}
		}
	}
}
